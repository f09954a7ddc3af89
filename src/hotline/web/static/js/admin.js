// Administration sections: list items from the API, send each action's form to its route.
import { api, ApiError, csrfToken } from "/static/js/api.js";

const section = document.getElementById("admin-section");
const texts = document.getElementById("admin-texts").dataset;
const flowYaml = document.getElementById("flow-yaml");

function cell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function idOf(item) {
  for (const key of ["id", "queue_id", "organisation_id", "prompt_id"]) {
    if (item[key] !== undefined) return String(item[key]);
  }
  return "";
}

function fill(item) {
  const id = idOf(item);
  for (const form of section.querySelectorAll("form.admin-action")) {
    const field = form.querySelector('input[name="id"]');
    if (field) field.value = id;
  }
  const editable = section.querySelector('form[data-method="PUT"] textarea[name="body"]');
  if (editable) {
    const copy = { ...item };
    for (const key of ["id", "queue_id", "organisation_id", "updated_by"]) delete copy[key];
    editable.value = JSON.stringify(copy, null, 2);
  }
}

function table(items) {
  const list = document.getElementById("admin-list");
  list.replaceChildren();
  document.getElementById("admin-empty").hidden = items.length > 0;
  if (!items.length) return;
  const keys = Object.keys(items[0]);
  const grid = document.createElement("table");
  grid.className = "grid";
  const head = grid.createTHead().insertRow();
  for (const key of keys) {
    const th = document.createElement("th");
    th.textContent = key;
    head.appendChild(th);
  }
  const body = grid.createTBody();
  for (const item of items) {
    const row = body.insertRow();
    row.className = "pick";
    for (const key of keys) row.insertCell().textContent = cell(item[key]);
    row.addEventListener("click", () => fill(item));
  }
  list.appendChild(grid);
}

async function load() {
  const data = await api(section.dataset.list);
  if (flowYaml && data && typeof data.yaml === "string") {
    flowYaml.value = data.yaml;
    table([]);
    return;
  }
  table(Array.isArray(data) ? data : []);
}

function describe(error) {
  if (!(error instanceof ApiError)) return String(error);
  const lines = [error.message];
  for (const p of error.problems || []) {
    const where = p.node ? `${texts.node} ${p.node}` : p.setting;
    lines.push(`${where}: ${p.problem}`);
  }
  return lines.join("\n");
}

async function send(method, url, body, file) {
  if (file === undefined) return api(url, { method, body });
  const form = new FormData();
  form.append("file", file);
  const response = await fetch(url, {
    method,
    body: form,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
  });
  const data = await response.json();
  if (!response.ok) {
    const error = new ApiError(response.status, data.code, data.message);
    error.problems = data.problems;
    throw error;
  }
  return data;
}

async function sendJson(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: {
      "X-CSRF-Token": csrfToken(),
      Accept: "application/json",
      "Content-Type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new ApiError(response.status, data?.code ?? "error", data?.message ?? "");
    error.problems = data?.problems;
    throw error;
  }
  return data;
}

function summary(data) {
  if (data && data.ok === true) return texts.valid;
  if (data && data.ok === false) {
    return data.problems.map((p) => `${p.node ? texts.node + " " + p.node : p.setting}: ${p.problem}`).join("\n");
  }
  if (data && data.applied === true) return `${texts.saved} ${texts.applied}`;
  if (data && data.restart_needed) return `${texts.saved} ${texts.restart}`;
  return texts.saved;
}

for (const form of section.querySelectorAll("form.admin-action")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = form.querySelector(".result");
    result.className = "result";
    const idField = form.querySelector('input[name="id"]');
    const url = form.dataset.url.replace("{id}", encodeURIComponent(idField ? idField.value : ""));
    const kind = form.dataset.body;
    try {
      let data;
      if (kind === "file") {
        data = await send("POST", url, undefined, form.querySelector('input[name="file"]').files[0]);
      } else if (kind === "yaml") {
        data = await sendJson(form.dataset.method, url, { yaml: flowYaml.value });
      } else if (kind === "json") {
        let body;
        try {
          body = JSON.parse(form.querySelector('textarea[name="body"]').value);
        } catch {
          result.textContent = texts.badJson;
          result.classList.add("bad");
          return;
        }
        data = await sendJson(form.dataset.method, url, body);
      } else {
        data = await sendJson(form.dataset.method, url, undefined);
      }
      result.textContent = summary(data);
      result.classList.add(data && data.ok === false ? "bad" : "ok");
      if (kind !== "yaml" || form.dataset.method === "PUT") await load();
    } catch (error) {
      result.textContent = describe(error);
      result.classList.add("bad");
    }
  });
}

load().catch((error) => {
  document.getElementById("admin-empty").hidden = false;
  document.getElementById("admin-empty").textContent = describe(error);
});
