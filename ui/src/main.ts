import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { commands } from "./lib/ipc";

const app = mount(App, { target: document.getElementById("app")! });

// Tell the shell once the first frame is on screen (two animation frames after mounting): it measures
// start-up time from this. A failure here must never disturb the app.
requestAnimationFrame(() => requestAnimationFrame(() => void commands.uiReady().catch(() => {})));

export default app;
