// The live socket /api/v1/live: JSON messages (hello, event, desk, card, wallboard),
// reconnecting with a growing delay once a connection was made; a refused first
// handshake or a 1008 close ends the attempts (onState(false, 1008)). Labels for the codes come from the page's
// data attribute (#labels, data-labels).

export function labels() {
  const block = document.getElementById("labels");
  return block ? JSON.parse(block.dataset.labels) : {};
}

export function label(all, key, fallback = "") {
  return Object.prototype.hasOwnProperty.call(all, key) ? all[key] : fallback || key;
}

export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

export function connectLive(onMessage, onState = () => {}) {
  let delay = 500;
  let socket = null;
  let stopped = false;
  let opened = false; // some handshake of this page succeeded
  const open = () => {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${window.location.host}/api/v1/live`);
    socket.addEventListener("open", () => {
      delay = 500;
      opened = true;
      onState(true);
    });
    socket.addEventListener("message", (e) => {
      try {
        onMessage(JSON.parse(e.data));
      } catch (err) {
        console.error("live message", err);
      }
    });
    socket.addEventListener("close", (e) => {
      // A first handshake that never opened was refused (the page was just served, so
      // the server is up): retrying would only repeat the refusal. 1008: the session
      // or the permission ended. Either way the page falls back to what it can poll.
      const refused = !opened || e.code === 1008;
      onState(false, refused ? 1008 : e.code, e.reason);
      if (stopped || refused) return;
      window.setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    });
  };
  open();
  return { stop: () => { stopped = true; if (socket) socket.close(); } };
}

export function seconds(value) {
  const s = Math.max(0, Math.floor(value));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function el(tag, text = "", cls = "") {
  const node = document.createElement(tag);
  if (text !== "") node.textContent = text;
  if (cls) node.className = cls;
  return node;
}
