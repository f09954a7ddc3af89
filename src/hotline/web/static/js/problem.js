// A page's problem line (the element with the given id) and actions that report on it.
// Shared by the desk and the wallboard.
export function problemLine(id) {
  function problem(text) {
    const p = document.getElementById(id);
    p.textContent = text || "";
    p.hidden = !text;
  }

  // The answer of fn (true for an empty answer such as 204), or null when it failed.
  async function act(fn) {
    try {
      problem("");
      const answer = await fn();
      return answer === null || answer === undefined ? true : answer;
    } catch (err) {
      problem(err.message);
      return null;
    }
  }

  return { problem, act };
}
