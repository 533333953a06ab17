// What the page plays and hears outside the media connections: the speaker
// every remote voice goes to, the microphone's level meter, the knock chime.

const SPEAKER_KEY = "veet:speaker";

type SinkElement = HTMLMediaElement & { setSinkId?: (id: string) => Promise<void>; sinkId?: string };

// canPickSpeaker: the browser can send a page's audio to another output
// (setSinkId; Chromium, Edge, Firefox 116+, not Safari).
export const canPickSpeaker = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;

// Speaker is the chosen audio output, applied to every element that plays
// remote audio, now and later.
class Speaker {
  private els = new Set<SinkElement>();
  id = (typeof localStorage !== "undefined" && localStorage.getItem(SPEAKER_KEY)) || "";

  // attach routes el to the chosen output until it is detached.
  attach(el: HTMLMediaElement): void {
    const s = el as SinkElement;
    this.els.add(s);
    if (this.id && canPickSpeaker) s.setSinkId!(this.id).catch(() => {});
  }

  detach(el: HTMLMediaElement): void {
    this.els.delete(el as SinkElement);
  }

  // set chooses the output ("" = the system default). An output that went
  // away (unplugged headphones) leaves an element on the default.
  async set(id: string): Promise<void> {
    this.id = id;
    localStorage.setItem(SPEAKER_KEY, id);
    if (!canPickSpeaker) return;
    await Promise.all([...this.els].map((el) => el.setSinkId!(id).catch(() => {})));
  }
}

export const speaker = new Speaker();

// testTone plays a short chord on the chosen output ("Test" beside the
// speaker picker).
export async function testTone(): Promise<void> {
  const ctx = new AudioContext();
  const dest = ctx.createMediaStreamDestination();
  for (const [f, at] of [[523, 0], [659, 0.15], [784, 0.3]]) beep(ctx, dest, f, at, 0.25);
  const el = new Audio() as SinkElement;
  el.srcObject = dest.stream;
  speaker.attach(el);
  await el.play().catch(() => {});
  setTimeout(() => { speaker.detach(el); el.srcObject = null; void ctx.close(); }, 900);
}

function beep(ctx: AudioContext, out: AudioNode, freq: number, at: number, dur: number): void {
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = freq;
  const t = ctx.currentTime + at;
  gain.gain.setValueAtTime(0.0001, t);
  gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, t + dur);
  osc.connect(gain).connect(out);
  osc.start(t);
  osc.stop(t + dur + 0.05);
}

// Chimes played so far (tests read it through window.__veet).
export let chimes = 0;
let lastChime = 0;

// chime is the knock sound: two soft notes, on the chosen speaker, at most
// once every two seconds however many knock at once.
export function chime(): void {
  const now = Date.now();
  if (now - lastChime < 2000) return;
  lastChime = now;
  chimes++;
  try {
    const ctx = new AudioContext();
    const dest = ctx.createMediaStreamDestination();
    beep(ctx, dest, 880, 0, 0.18);
    beep(ctx, dest, 660, 0.2, 0.3);
    const el = new Audio();
    el.srcObject = dest.stream;
    speaker.attach(el);
    void el.play().catch(() => {});
    setTimeout(() => { speaker.detach(el); el.srcObject = null; void ctx.close(); }, 800);
  } catch {
    // No audio (an old browser, a page without a gesture yet): the title says it.
  }
}

// MicMeter shows how loud a microphone track is: a bar's width and
// data-level (0–100), about 20 times a second, until stopped.
export class MicMeter {
  readonly el: HTMLElement;
  private bar: HTMLElement;
  private ctx: AudioContext | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  // The loudest level seen (tests check the meter moved).
  peak = 0;

  constructor() {
    this.bar = document.createElement("span");
    this.bar.className = "meter-bar";
    this.el = document.createElement("div");
    this.el.className = "mic-meter";
    this.el.setAttribute("role", "meter");
    this.el.setAttribute("aria-label", "Microphone level");
    this.el.setAttribute("aria-valuemin", "0");
    this.el.setAttribute("aria-valuemax", "100");
    this.el.append(this.bar);
    this.show(0);
  }

  // watch measures track (null: nothing to measure, the bar rests).
  watch(track: MediaStreamTrack | null): void {
    this.stop();
    if (!track || track.readyState === "ended") return;
    const ctx = new AudioContext();
    this.ctx = ctx;
    const src = ctx.createMediaStreamSource(new MediaStream([track]));
    const an = ctx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    this.timer = setInterval(() => {
      if (!track.enabled) return this.show(0);
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      // RMS in dBFS, -60..0 drawn as 0..100.
      const db = 10 * Math.log10(sum / buf.length + 1e-12);
      this.show(Math.max(0, Math.min(100, Math.round(((db + 60) / 60) * 100))));
    }, 50);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    void this.ctx?.close().catch(() => {});
    this.ctx = null;
    this.show(0);
  }

  private show(level: number): void {
    this.peak = Math.max(this.peak, level);
    this.bar.style.width = `${level}%`;
    this.el.dataset.level = String(level);
    this.el.setAttribute("aria-valuenow", String(level));
  }
}
