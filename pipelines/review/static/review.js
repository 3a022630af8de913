// Keyboard-driven decisions: j/k move, a accept (asks for the type when none is preselected), r relabel (then
// Enter), g keep, n not sure. A flagged attribute (gender, colour, usage) is decided by its own buttons.
(function () {
  'use strict';
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const reviewer = document.getElementById('reviewer');
  const status = document.getElementById('status');
  const cards = Array.from(document.querySelectorAll('.card'));
  let current = 0;

  const signedIn = reviewer.dataset.signedIn === '1';  // behind a proxy, which names the reviewer

  function remember(name) {  // the cookie tells the server whose slice of the queue to put first
    localStorage.setItem('reviewer', name);
    document.cookie = `reviewer=${encodeURIComponent(name)}; path=/; SameSite=Strict`;
  }

  if (!signedIn) {
    reviewer.value = localStorage.getItem('reviewer') || '';
    if (reviewer.value) remember(reviewer.value);
    reviewer.addEventListener('change', () => remember(reviewer.value.trim()));
  }

  function select(index) {
    if (!cards.length) return;
    current = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach((card, i) => card.classList.toggle('current', i === current));
    cards[current].focus();
  }

  function accept(card) {
    const choice = card.querySelector('.accept-article');
    if (choice.value) { decide(card, 'accept'); return; }
    status.textContent = 'Nothing shows which articleType this is: pick it, then Enter.';
    choice.focus();
  }

  async function decide(card, decision) {
    const name = reviewer.value.trim();
    if (!name) { status.textContent = 'Type your name first.'; reviewer.focus(); return; }
    if (!signedIn) remember(name);
    const article = decision === 'accept' ? card.querySelector('.accept-article').value
      : decision === 'relabel' ? card.querySelector('.relabel-article').value : null;
    const response = await fetch('/decide', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
      body: JSON.stringify({id: card.dataset.id, decision: decision, articleType: article, reviewer: name,
                            seen: Number(card.dataset.seq)}),
    });
    const body = await response.json();
    if (response.status === 409) {  // decided by someone else since this page loaded: show theirs, decide again
      card.dataset.seq = body.seq;
      card.querySelector('.outcome').textContent =
        `newer: ${body.decision}${body.articleType ? ': ' + body.articleType : ''} (${body.decided_by})`;
    }
    if (!response.ok) { status.textContent = body.error; return; }
    status.textContent = '';
    card.dataset.seq = body.seq;
    card.classList.add('decided');
    card.dataset.decided = body.decision;
    card.querySelector('.outcome').textContent =
      `${body.decision}${body.articleType ? ': ' + body.articleType : ''} (${body.decided_by})`;
    select(cards.indexOf(card) + 1);
  }

  async function decideAttribute(card, row, decision) {
    const name = reviewer.value.trim();
    if (!name) { status.textContent = 'Type your name first.'; reviewer.focus(); return; }
    if (!signedIn) remember(name);
    const response = await fetch('/decide-attribute', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
      body: JSON.stringify({id: card.dataset.id, attribute: row.dataset.attribute, decision: decision,
                            reviewer: name, seen: Number(row.dataset.seq)}),
    });
    const body = await response.json();
    if (response.status === 409) row.dataset.seq = body.seq;  // decided by someone else since: shown, decide again
    if (!response.ok && response.status !== 409) { status.textContent = body.error; return; }
    status.textContent = response.ok ? '' : body.error;
    if (response.ok) { row.dataset.seq = body.seq; row.classList.add('decided'); }
    row.querySelector('.attribute-outcome').textContent =
      `${response.ok ? '' : 'newer: '}${body.decision}: ${body.value} (${body.decided_by})`;
  }

  cards.forEach((card, i) => {
    card.addEventListener('click', () => select(i));
    card.querySelectorAll('.attribute').forEach(row => row.querySelectorAll('button').forEach(button =>
      button.addEventListener('click', () => decideAttribute(card, row, button.dataset.attributeDecision))));
    card.querySelectorAll('button[data-decision]').forEach(button => button.addEventListener('click', () =>
      button.dataset.decision === 'accept' ? accept(card) : decide(card, button.dataset.decision)));
    card.querySelector('.relabel-article').addEventListener('keydown', event => {
      if (event.key === 'Enter') { event.preventDefault(); decide(card, 'relabel'); }
    });
    card.querySelector('.accept-article').addEventListener('keydown', event => {
      if (event.key === 'Enter') { event.preventDefault(); accept(card); }
    });
  });

  document.addEventListener('keydown', event => {
    const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName);
    if (typing || event.ctrlKey || event.metaKey || event.altKey || !cards.length) return;
    const card = cards[current];
    const actions = {j: () => select(current + 1), k: () => select(current - 1),
                     a: () => accept(card), g: () => decide(card, 'keep'),
                     n: () => decide(card, 'not_sure'), r: () => card.querySelector('.relabel-article').focus()};
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  });
  select(0);
})();
