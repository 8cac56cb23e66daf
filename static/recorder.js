// The recorder window: MediaRecorder (Opus) gives a piece every three seconds; pieces and the pause,
// resume and finish steps go to the server in one queue, in order, each again after a failure, so a
// crash loses at most what was not yet sent. Steps carry the audio's length, so notes made meanwhile
// land where the talk went on.
(function () {
  "use strict";
  var root = document.getElementById("recorder");
  if (!root) { return; }
  var token = window.fieldkit.token;
  var label = document.getElementById("recorder-label"), clock = document.getElementById("recorder-clock");
  var level = document.getElementById("recorder-level"), saved = document.getElementById("recorder-saved");
  var problem = document.getElementById("recorder-error");
  var PIECE_MS = 3000;
  var recorder = null, stream = null, urls = null, seq = 0, queue = [], sending = false, retryMs = 1000;
  var elapsed = 0, since = null, savedMs = 0;

  function msg(name, values) {
    var text = root.dataset["msg" + name];
    Object.keys(values || {}).forEach(function (key) { text = text.replace("%(" + key + ")s", values[key]); });
    return text;
  }
  function now() { return Math.round(elapsed + (since === null ? 0 : performance.now() - since)); }
  function hms(ms) {
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(s % 60).padStart(2, "0");
  }
  function show(state, text) {
    root.dataset.state = state;
    label.textContent = text;
    ["start", "pause", "resume", "finish"].forEach(function (name) {
      root.querySelector("[data-recorder=" + name + "]").hidden = !({
        ready: ["start"], recording: ["pause", "finish"], paused: ["resume", "finish"]
      }[state] || []).includes(name);
    });
  }
  function fail(text) { problem.textContent = text; problem.hidden = false; }

  function post(url, fields, body) {
    var form = new FormData();
    form.append("csrf_token", token);
    Object.keys(fields).forEach(function (key) { form.append(key, fields[key]); });
    if (body) { form.append("piece", body, "piece"); }
    return fetch(url, { method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRF-Token": token } });
  }

  // The queue: {url, fields, body} in the order things happened. Only a 204 means kept: a locked vault
  // answers with its unlock page, and everything waits here until it is open again.
  function enqueue(url, fields, body) { queue.push({ url: url, fields: fields, body: body }); send(); }
  function send() {
    if (sending || !queue.length) { return; }
    sending = true;
    var item = queue[0];
    post(item.url, item.fields, item.body).then(function (answer) {
      if (answer.status !== 204) { throw new Error(String(answer.status)); }
      queue.shift();
      retryMs = 1000;
      savedMs = Math.max(savedMs, item.fields.ms);
      saved.textContent = msg("Saved", { time: hms(savedMs) });
    }).catch(function () {
      saved.textContent = msg("Behind", { seconds: Math.round((now() - savedMs) / 1000) });
      retryMs = Math.min(retryMs * 2, 10000);
      return new Promise(function (resolve) { setTimeout(resolve, retryMs); });
    }).then(function () {
      sending = false;
      if (queue.length) { send(); } else if (root.dataset.state === "finishing") { show("finished", msg("Finished")); }
    });
  }

  function meter(source) {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    var context = new Context(), analyser = context.createAnalyser(), samples = new Float32Array(1024);
    analyser.fftSize = 1024;
    context.createMediaStreamSource(source).connect(analyser);
    (function draw() {
      analyser.getFloatTimeDomainData(samples);
      var peak = 0;
      for (var i = 0; i < samples.length; i++) { peak = Math.max(peak, Math.abs(samples[i])); }
      level.value = root.dataset.state === "recording" ? Math.min(1, peak) : 0;
      if (recorder && recorder.state !== "inactive") { requestAnimationFrame(draw); } else { level.value = 0; context.close(); }
    })();
  }

  function start() {
    if (root.dataset.state !== "ready") { return; }  // a second click while the first starts
    if (!navigator.mediaDevices || !window.MediaRecorder) { fail(msg("Unsupported")); return; }
    show("starting", msg("Ready"));
    var type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "audio/webm";
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (granted) {
      stream = granted;
      return post(root.dataset.startUrl, { mime: type }).then(function (answer) {
        return answer.json().then(function (body) {
          if (!answer.ok) { throw new Error(body.error); }
          return body;
        });
      });
    }).then(function (body) {
      urls = body;
      recorder = new MediaRecorder(stream, { mimeType: type, audioBitsPerSecond: 48000 });
      recorder.addEventListener("dataavailable", function (event) {
        if (event.data.size) { enqueue(urls.piece_url, { seq: seq++, ms: now() }, event.data); }
      });
      recorder.addEventListener("stop", function () { stream.getTracks().forEach(function (track) { track.stop(); }); });
      recorder.addEventListener("error", function (event) { lost(event.error ? event.error.message : "MediaRecorder"); });
      stream.getAudioTracks().forEach(function (track) { track.addEventListener("ended", function () { lost(msg("Unplugged")); }); });
      recorder.start(PIECE_MS);
      since = performance.now();
      show("recording", msg("Recording"));
      meter(stream);
    }).catch(function (error) {
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      show("ready", msg("Ready"));
      fail(msg("NoMicrophone", { reason: error.message || error.name }));
    });
  }
  function pause() {
    recorder.requestData();
    recorder.pause();
    elapsed = now(); since = null;
    enqueue(urls.pause, { ms: elapsed });  // after the piece requestData gives, which comes first
    show("paused", msg("Paused"));
  }
  function resume() {
    enqueue(urls.resume, { ms: now() });
    recorder.resume();
    since = performance.now();
    show("recording", msg("Recording"));
  }
  function finish() {
    if (!recorder || recorder.state === "inactive") { return; }
    elapsed = now(); since = null;
    show("finishing", msg("Finishing"));
    recorder.addEventListener("stop", function () { enqueue(urls.finish, { ms: elapsed }); }, { once: true });
    recorder.stop();  // the last piece comes as dataavailable before "stop"
  }
  function lost(reason) {  // the microphone went away: keep what came, say so
    if (root.dataset.state === "finishing" || root.dataset.state === "finished") { return; }
    fail(msg("Lost", { reason: reason }));
    finish();
  }

  root.addEventListener("click", function (event) {
    var button = event.target.closest("[data-recorder]");
    if (!button) { return; }
    ({ start: start, pause: pause, resume: resume, finish: finish })[button.dataset.recorder]();
  });
  setInterval(function () { if (since !== null) { clock.textContent = hms(now()); } }, 250);
  // Leaving while audio is not yet sent: the browser asks first. Closed anyway, the window loses at most
  // what was waiting.
  window.addEventListener("beforeunload", function (event) {
    if (queue.length || (recorder && recorder.state === "recording")) { event.preventDefault(); event.returnValue = ""; }
  });
  window.addEventListener("pagehide", function () { if (recorder && recorder.state !== "inactive") { recorder.stop(); } });
  window.fieldkitRecorder = { start: start, pause: pause, resume: resume, finish: finish,
                              state: function () { return { state: root.dataset.state, ms: now(), saved: savedMs, queued: queue.length }; } };
})();
