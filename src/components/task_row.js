// How a task row is written to the page: its markup, and its values as text and
// attributes. Rust (task_item.rs) decides when; each call here builds or updates one row.
// Built from Rust, a row took a dozen calls across the wasm boundary, each copying its
// strings, and that was most of the time a 10,000-task board took to show (README,
// "Figures"). Titles are only ever written as text, never parsed as markup.

// A blank row: no title, not done, not pending, not edited.
const template = document.createElement("template");
template.innerHTML =
  '<input class="task-check" type="checkbox">' +
  '<span class="task-title"></span>' +
  '<span class="task-pending" aria-hidden="true" title="Waiting for the server"></span>' +
  '<button type="button" class="icon-button task-edit">' +
  '<svg viewBox="0 0 20 20" aria-hidden="true"><path d="M13.6 3.6l2.8 2.8-9 9H4.6v-2.8z"/></svg>' +
  '<span class="sr-only">Edit</span></button>' +
  '<button type="button" class="icon-button danger task-delete">' +
  '<svg viewBox="0 0 20 20" aria-hidden="true"><path d="M5 5l10 10M15 5L5 15"/></svg>' +
  "</button>";

// Fills the empty `<li>` of a new row, writing only what differs from the blank row.
export function buildRow(item, id, title, done, pending) {
  item.append(template.content.cloneNode(true));
  item.className = done ? "task done" : "task";
  item.setAttribute("data-task-id", id);
  if (pending) item.setAttribute("data-pending", "true");
  const check = item.firstElementChild;
  if (done) check.checked = true;
  check.setAttribute("aria-label", title);
  check.nextElementSibling.textContent = title;
  item.lastElementChild.setAttribute("aria-label", "Delete " + title);
}

// Writes a row's values. While the row is edited its title and Edit button are hidden,
// and the editor (see `editorHost`) stands after the title.
export function showRow(item, title, done, pending, editing) {
  const check = item.firstElementChild;
  const text = check.nextElementSibling;
  const remove = item.lastElementChild;
  const edit = remove.previousElementSibling;
  item.className = "task" + (done ? " done" : "") + (editing ? " editing" : "");
  if (pending) {
    item.dataset.pending = "true";
  } else {
    delete item.dataset.pending;
  }
  check.checked = done;
  check.setAttribute("aria-label", title);
  if (text.textContent !== title) text.textContent = title;
  text.hidden = editing;
  edit.hidden = editing;
  remove.setAttribute("aria-label", "Delete " + title);
}

// A new `div.task-editor` just after the row's title, for the editor to be mounted in.
export function editorHost(item) {
  const host = document.createElement("div");
  host.className = "task-editor";
  item.firstElementChild.nextElementSibling.after(host);
  return host;
}
