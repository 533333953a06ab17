import "./styles.css";
import { loadConfig } from "./client/config";
import { storageTokens } from "./client/tokens";
import { App } from "./ui/app";

const root = document.getElementById("app")!;

loadConfig()
  .then((config) => new App(root, config, storageTokens(sessionStorage, localStorage)).start())
  .catch((err: Error) => {
    root.innerHTML = "";
    const box = document.createElement("main");
    box.className = "page center";
    box.innerHTML = `<h1>veet can't start</h1><p class="muted"></p>`;
    box.querySelector("p")!.textContent = `The configuration could not be loaded (${err.message}). Try reloading the page.`;
    root.append(box);
  });
