// hookgate dashboard: actions through the admin API and live updates from
// its event stream. Data from the server goes into the page only through
// textContent and attributes set one by one, never as markup: receipt
// fields come from whoever sent the webhook.
(function () {
  'use strict';
  var page = document.body.getAttribute('data-page');
  if (page === 'login') return;
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute('content') : '';

  function api(method, path, body) {
    var init = { method: method, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf } };
    if (body !== undefined) init.body = JSON.stringify(body);
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var json = null;
        try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
        return { ok: res.ok, status: res.status, json: json };
      });
    });
  }

  function say(el, text, cls) {
    if (!el) return;
    el.textContent = text;
    el.className = 'msg' + (cls ? ' ' + cls : '');
  }

  function failure(res) {
    if (res.status === 404 && res.json && res.json.error === 'not_found' && /no admin route/.test(res.json.message || '')) {
      return 'This server does not offer that action yet.';
    }
    var m = res.json && res.json.message ? res.json.message : 'HTTP ' + res.status;
    return 'Refused (' + res.status + '): ' + m;
  }

  // Buttons with data-post call that API path.
  document.addEventListener('click', function (ev) {
    var b = ev.target.closest ? ev.target.closest('button[data-post]') : null;
    if (!b) return;
    var msg = document.getElementById('action-msg');
    b.disabled = true;
    say(msg, 'Working…');
    api('POST', b.getAttribute('data-post')).then(function (res) {
      b.disabled = false;
      if (!res.ok) { say(msg, failure(res), 'bad'); return; }
      var st = res.json && res.json.status ? ' Status: ' + res.json.status + '.' : '';
      say(msg, 'Done.' + st, 'good');
      if (b.getAttribute('data-done') === 'reload') setTimeout(function () { location.reload(); }, 300);
    }, function (err) { b.disabled = false; say(msg, 'Request failed: ' + err, 'bad'); });
  });

  // Bulk replay: a dry run counts, then the same filter replays.
  var countBtn = document.getElementById('bulk-count');
  var replayBtn = document.getElementById('bulk-replay');
  function bulkFilter(dry) {
    var f = { dry_run: dry };
    var form = document.getElementById('search');
    ['connection', 'status', 'event_type', 'since', 'until'].forEach(function (k) {
      var v = form.elements[k].value.trim();
      if (!v) return;
      if ((k === 'since' || k === 'until') && !/[zZ]|[+-]\d\d:\d\d$/.test(v)) {
        v = (v.length === 10 ? v + 'T00:00' : v) + (v.length <= 16 ? ':00Z' : 'Z');
      }
      f[k] = v;
    });
    return f;
  }
  function bulk(dry) {
    var msg = document.getElementById('bulk-msg');
    say(msg, dry ? 'Counting…' : 'Replaying…');
    return api('POST', '/api/v1/receipts/replay', bulkFilter(dry)).then(function (res) {
      if (!res.ok) { say(msg, failure(res), 'bad'); replayBtn.hidden = true; return; }
      var j = res.json || {};
      var n = j.count !== undefined ? j.count : (j.matched !== undefined ? j.matched : j.replayed);
      if (dry) {
        say(msg, n + ' receipt(s) would be replayed.' + (j.message ? ' ' + j.message : ''));
        replayBtn.hidden = !(n > 0);
        replayBtn.textContent = 'Replay ' + n + ' receipt(s)';
      } else {
        say(msg, 'Replay started: ' + (n === undefined ? JSON.stringify(j) : n + ' receipt(s)') + '.', 'good');
        replayBtn.hidden = true;
      }
    }, function (err) { say(msg, 'Request failed: ' + err, 'bad'); });
  }
  if (countBtn) countBtn.addEventListener('click', function () { bulk(true); });
  if (replayBtn) replayBtn.addEventListener('click', function () { bulk(false); });

  // Live updates.
  var live = document.getElementById('live');
  if (!window.EventSource || !live) return;
  var es = new EventSource('/api/v1/events');
  es.onopen = function () { live.textContent = 'live'; live.className = 'live on'; };
  es.onerror = function () { live.textContent = 'reconnecting…'; live.className = 'live'; };

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function badge(status) {
    var s = document.createElement('span');
    s.className = 'st st-' + status;
    s.textContent = status;
    return s;
  }
  function link(id) {
    var a = document.createElement('a');
    a.href = '/receipts/' + encodeURIComponent(id);
    a.textContent = id;
    return a;
  }
  function when(at) { return String(at).replace('T', ' ').replace(/\.\d+Z$/, ''); }

  var reloadTimer = null;
  var handlers = {
    overview: function (t) {
      var feed = document.getElementById('feed');
      var first = feed.querySelector('li.muted');
      if (first) feed.removeChild(first);
      var li = document.createElement('li');
      li.appendChild(document.createTextNode(when(t.at) + ' ' + t.connection + ' '));
      li.appendChild(badge(t.status));
      if (t.reason) li.appendChild(document.createTextNode(' ' + t.reason));
      li.appendChild(document.createTextNode(' '));
      li.appendChild(link(t.receipt_id));
      feed.insertBefore(li, feed.firstChild);
      while (feed.children.length > 20) feed.removeChild(feed.lastChild);
    },
    receipts: function (t) {
      var table = document.getElementById('receipts');
      var row = table.querySelector('tr[data-id="' + CSS.escape(t.receipt_id) + '"]');
      var want = function (k) { return table.getAttribute('data-' + k); };
      if (row) {
        var st = row.querySelector('td.status');
        st.textContent = '';
        st.appendChild(badge(t.status));
        if (t.reason) st.appendChild(document.createTextNode(' ' + t.reason));
        return;
      }
      // A new receipt: shown on the first page when the filters let it.
      if (t.from !== null || want('cursor') || want('event-type') || want('until')) return;
      if (want('connection') && want('connection') !== t.connection) return;
      if (want('status') && want('status') !== t.status) return;
      var tr = document.createElement('tr');
      tr.setAttribute('data-id', t.receipt_id);
      tr.className = 'fresh';
      cell(tr, when(t.at));
      cell(tr, t.connection);
      cell(tr, '');
      var st = cell(tr, badge(t.status), 'status');
      if (t.reason) st.appendChild(document.createTextNode(' ' + t.reason));
      cell(tr, link(t.receipt_id));
      var body = table.tBodies[0];
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > 50) body.removeChild(body.lastChild);
      var empty = document.getElementById('empty');
      if (empty) empty.hidden = true;
    },
    receipt: function (t) {
      var box = document.getElementById('receipt');
      if (!box || t.receipt_id !== box.getAttribute('data-id')) return;
      var st = document.getElementById('status');
      st.textContent = t.status;
      st.className = 'st st-' + t.status;
      // Attempts and history are rendered by the server: reload once the
      // transitions settle.
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(function () { location.reload(); }, 400);
    }
  };
  es.addEventListener('receipt.status_transitioned', function (e) {
    var h = handlers[page];
    if (!h) return;
    var t;
    try { t = JSON.parse(e.data); } catch (err) { return; }
    h(t);
  });
})();
