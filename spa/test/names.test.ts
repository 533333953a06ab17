import { describe, expect, it } from "vitest";
import { initials, roleLabel } from "../src/ui/dom";

describe("initials", () => {
  it("takes the first letter of the first two words", () => {
    expect(initials("Ada Lovelace")).toBe("AL");
    expect(initials("grace")).toBe("G");
    expect(initials("  Ada   B  Cee ")).toBe("AB");
  });

  it("is letters only, whatever the name holds", () => {
    expect(initials("<img src=x onerror=alert(1)>")).toBe("IS"); // issue 12: was "<S"
    expect(initials("(Host) 123 !!")).toBe("H");
    expect(initials("42 ☺")).toBe("?");
    expect(initials("")).toBe("?");
  });

  it("keeps letters of any script", () => {
    expect(initials("李小龍")).toBe("李");
    expect(initials("élodie Ünal")).toBe("ÉÜ");
    expect(initials("👩‍💻 Grace")).toBe("G");
  });
});

describe("roleLabel", () => {
  it("names only the roles the server gives", () => {
    expect(roleLabel.host).toBe("Meeting host");
    expect(roleLabel.cohost).toBe("Co-host");
    expect(roleLabel.participant).toBeUndefined();
    expect(roleLabel.guest).toBeUndefined();
  });
});
