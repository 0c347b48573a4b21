// The ranking widget of a case page: mouse (click the letters best first) and keyboard (type them,
// Backspace takes the last back, Enter goes on); a complete ranking is sent at once.
(function () {
  const root = document.getElementById("questions");
  const caseId = root.dataset.case;
  const labels = root.dataset.labels.split(",");
  const questions = Array.from(document.querySelectorAll(".question"));
  const next = document.getElementById("next");
  const error = document.getElementById("error");
  const state = new Map(questions.map(q => [q, q.dataset.answer ? q.dataset.answer.split(",") : []]));
  const sent = new Map(questions.map(q => [q, state.get(q).length === labels.length]));

  function render(q) {
    const ranking = state.get(q);
    q.querySelector(".ranking").innerHTML = ranking.map(l => "<li>" + l + "</li>").join("");
    q.querySelectorAll(".pick").forEach(b => { b.disabled = ranking.includes(b.dataset.label); });
    q.classList.toggle("complete", sent.get(q));
    q.querySelector(".status").textContent = sent.get(q) ? "saved" : "";
    next.disabled = !questions.every(x => sent.get(x));
  }
  function active() { return questions.find(q => !sent.get(q)) || questions[questions.length - 1]; }
  function highlight() { questions.forEach(q => q.classList.toggle("active", q === active())); }

  async function submit(q) {
    error.textContent = "";
    const response = await fetch("/api/vote", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({case_id: caseId, question: q.dataset.question, ranking: state.get(q)})});
    const body = await response.json();
    if (!response.ok) { error.textContent = body.error; state.set(q, []); sent.set(q, false); }
    else {
      sent.set(q, true);
      document.getElementById("bar").style.width = (100 * body.done / body.total) + "%";
      document.getElementById("progress-text").textContent = body.done + " of " + body.total + " cases done";
    }
    render(q); highlight();
  }
  function pick(q, label) {
    const ranking = state.get(q);
    if (!labels.includes(label) || ranking.includes(label) || sent.get(q)) return;
    ranking.push(label); render(q);
    if (ranking.length === labels.length) submit(q);
  }
  function back(q) {
    if (sent.get(q)) { sent.set(q, false); }
    state.get(q).pop(); render(q); highlight();
  }
  questions.forEach(q => {
    q.querySelectorAll(".pick").forEach(b => b.addEventListener("click", () => pick(q, b.dataset.label)));
    q.querySelector(".reset").addEventListener("click", () => { state.set(q, []); sent.set(q, false); render(q); highlight(); });
    render(q);
  });
  highlight();
  document.addEventListener("keydown", event => {
    if (event.target.tagName === "INPUT") return;
    const key = event.key.toUpperCase();
    if (event.key === "Enter" && !next.disabled) { event.preventDefault(); next.click(); }
    else if (event.key === "Backspace") { event.preventDefault(); back(active()); }
    else if (key.length === 1 && labels.includes(key)) { event.preventDefault(); pick(active(), key); }
  });
  next.addEventListener("click", () => { window.location.href = "/"; });
})();
