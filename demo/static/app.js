// facestream demo page: camera -> WebRTC -> server swap -> back; controls over a data channel.
"use strict";

const $ = (id) => document.getElementById(id);
// The token (required when the server is not on loopback) travels in the URL fragment,
// which browsers never send to the server in requests or logs.
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { "X-Facestream-Token": token } : {};

// Read by the browser test; also handy in the console.
const state = {
  client: null, pc: null, channel: null, stats: null, options: null, source: null,
  sourceWarnings: [],
};
window.facestream = state;

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

async function api(path, body, json = true) {
  const init = { method: "POST", headers: { ...headers }, body };
  if (json) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const reply = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(reply.error || response.statusText);
  return reply;
}

async function newSession() {
  state.client = (await api("/session", {})).client;
}

// What enrollment says about an accepted face (a soft photo, a fringe): notes, not errors.
function showSourceWarnings(warnings) {
  state.sourceWarnings = warnings;
  $("source-warnings").replaceChildren(...warnings.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  $("source-warnings").hidden = warnings.length === 0;
}

// The chosen source (a File or an example name) is kept so a new call can resend it.
async function sendSource() {
  showSourceWarnings([]);
  if (!state.source) {
    $("source-status").textContent = "none chosen: the video comes back unswapped";
    return;
  }
  const form = new FormData();
  form.append("client", state.client);
  if (typeof state.source === "string") form.append("example", state.source);
  else form.append("photo", state.source);
  $("source-status").textContent = "enrolling…";
  $("source-status").classList.remove("error");
  try {
    const reply = await api("/source", form, false);
    $("source-status").textContent =
      `ready (${reply.size[0]}×${reply.size[1]}; landmarks: ${reply.landmarks})`;
    showSourceWarnings(reply.warnings || []);
  } catch (err) {
    $("source-status").textContent = err.message;
    $("source-status").classList.add("error");
  }
}

function sendOptions() {
  if (state.channel && state.channel.readyState === "open") {
    state.channel.send(JSON.stringify({
      swap: $("swap").checked,
      overlay: $("overlay").checked,
      smoothing: $("smoothing").value,
    }));
  }
}

function showStats(s) {
  state.stats = s;
  $("stat-fps").textContent = s.fps.toFixed(1);
  $("stat-latency").textContent =
    `${s.latency_p50_ms.toFixed(1)} / ${s.latency_p95_ms.toFixed(1)} / ${s.latency_max_ms.toFixed(1)}`;
  $("stat-process").textContent = s.process_p50_ms.toFixed(1);
  $("stat-frames").textContent = `${s.frames_in} / ${s.frames_out} / ${s.dropped}`;
  $("stat-errors").textContent = s.errors ? `${s.errors} (${s.last_error})` : "0";
}

function onChannelMessage(event) {
  const msg = JSON.parse(event.data);
  if (msg.type === "stats") showStats(msg);
  else if (msg.type === "options") state.options = msg;
  else if (msg.type === "error") say(msg.message, true);
  else if (msg.type === "event") say(msg.message);
}

const CALL_STATES = {
  new: "starting the call…",
  connecting: "connecting…",
  connected: "connected: the right-hand video is the one back from the server",
  disconnected: "the call was interrupted",
  failed: "the call failed (is the server still running?)",
  closed: "call ended",
};

function waitForIce(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

async function start() {
  $("start").disabled = true;
  try {
    const media = await navigator.mediaDevices.getUserMedia({
      video: { width: 640, height: 480 }, audio: false,
    });
    $("local").srcObject = media;
    if (!state.client) {
      await newSession();
      await sendSource();
    }
    const pc = new RTCPeerConnection();
    state.pc = pc;
    state.channel = pc.createDataChannel("control");
    state.channel.onopen = sendOptions;
    state.channel.onmessage = onChannelMessage;
    pc.ontrack = (event) => {
      if (event.track.kind === "video") $("remote").srcObject = event.streams[0];
    };
    pc.onconnectionstatechange = () => {
      const words = CALL_STATES[pc.connectionState] || pc.connectionState;
      say(words, pc.connectionState === "failed");
    };
    media.getTracks().forEach((track) => pc.addTrack(track, media));
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc);
    const answer = await api("/offer", {
      sdp: pc.localDescription.sdp, type: pc.localDescription.type, client: state.client,
    });
    await pc.setRemoteDescription(answer);
    $("stop").disabled = false;
  } catch (err) {
    say(`could not start: ${err.message}`, true);
    stop();
  }
}

function stop() {
  if (state.pc) state.pc.close();
  const local = $("local").srcObject;
  if (local) local.getTracks().forEach((track) => track.stop());
  $("local").srcObject = null;
  $("remote").srcObject = null;
  // The server forgets a client when its call ends; the next call starts a new session.
  Object.assign(state, { pc: null, channel: null, client: null });
  $("start").disabled = false;
  $("stop").disabled = true;
}

async function init() {
  const response = await fetch("/examples", { headers });
  if (response.status === 401) {
    // A server off loopback wants the token it printed with its address.
    say(token ? "this address's token is not the server's: open the address the server printed"
      : "this server needs its token: open the whole address it printed (ending in #token=…)", true);
    $("start").disabled = true;
    return;
  }
  const examples = await response.json();
  $("example").append(new Option("(none)", ""));
  for (const [name, label] of Object.entries(examples)) $("example").append(new Option(label, name));
  $("example").onchange = async () => {
    state.source = $("example").value || null;
    if (state.source) {
      if (state.client) await sendSource();
    } else {
      // The server keeps the last face it enrolled; "none" turns the swap off instead.
      $("swap").checked = false;
      sendOptions();
      $("source-status").textContent = "none chosen: swap off";
      showSourceWarnings([]);
    }
  };
  $("photo").onchange = async () => {
    state.source = $("photo").files[0] || null;
    if (state.source) $("example").value = "";  // the photo, not an example, is the source
    if (state.client) await sendSource();
  };
  for (const id of ["swap", "overlay", "smoothing"]) $(id).onchange = sendOptions;
  $("start").onclick = start;
  $("stop").onclick = stop;
  // The first example is chosen unless ?example=NAME says otherwise, so the first call
  // already shows a swap; ?autostart=1 lets a test (or a kiosk) start without clicks.
  const query = new URLSearchParams(location.search);
  const chosen = query.has("example") ? query.get("example") : Object.keys(examples)[0];
  if (chosen) {
    $("example").value = chosen;
    state.source = chosen;
  }
  say("Choose a source face (an example or your own photo), then press Start camera.");
  if (query.get("autostart")) start();
}

init().catch((err) => say(`could not load the page: ${err.message}`, true));
