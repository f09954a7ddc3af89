// Recordings: ask for the reason, get a signed URL from the API (audited), play or download.
import { api, ApiError } from "/static/js/api.js";

const access = document.getElementById("access");
const reason = document.getElementById("reason");
const what = document.getElementById("access-what");
const failure = document.getElementById("access-error");
const player = document.getElementById("player");
const audio = document.getElementById("audio");
const texts = document.getElementById("recordings-texts").dataset;
let pending = null;

function ask(id, download) {
  pending = { id, download };
  what.textContent = `${download ? texts.download : texts.play}: ${id}`;
  failure.textContent = "";
  access.hidden = false;
  reason.focus();
}

for (const button of document.querySelectorAll("button.play")) {
  button.addEventListener("click", () => ask(button.dataset.id, false));
}
for (const button of document.querySelectorAll("button.download")) {
  button.addEventListener("click", () => ask(button.dataset.id, true));
}

document.getElementById("access-cancel").addEventListener("click", () => {
  access.hidden = true;
  pending = null;
});

access.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (pending === null) return;
  try {
    const granted = await api(`/api/v1/recordings/${encodeURIComponent(pending.id)}/access`, {
      method: "POST",
      body: { reason: reason.value, download: pending.download },
    });
    access.hidden = true;
    if (pending.download) {
      window.location.assign(granted.url);
    } else {
      player.hidden = false;
      audio.src = granted.url;
      await audio.play().catch(() => undefined);
    }
    pending = null;
  } catch (error) {
    failure.textContent = error instanceof ApiError ? error.message : String(error);
  }
});
