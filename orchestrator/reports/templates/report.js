// kubereach report: draws the page from the JSON island #kubereach-data (see
// orchestrator/reports/reportdata.py for its shape). Aggregates (summary, namespace heatmaps)
// are drawn at once; the probe rows are packed columns, inflated with the browser's own
// DecompressionStream, and every detail (pod grids, tables, a probe) is built on demand.
// Everything from the results folder is inserted as text (textContent), never as HTML.
(() => {
  "use strict";
  const D = JSON.parse(document.getElementById("kubereach-data").textContent);
  const CL = D.classes;
  const UA = 2, UD = 3, INC = 4; // indexes into D.classes
  const PRIORITY = [UA, UD, INC, 0, 1]; // unexpected rows first
  const PAGE = 50; // table rows per page
  const GRID = 100; // pod grid: rows and columns per page (10,000 cells at most)
  const PODS_PER_PAGE = 20; // intra-pod matrices per page
  const NO_LATENCY = 0xffffffff;
  const names = D.names;
  const nameNs = names.map((n) => (n.includes("/") ? n.split("/")[0] : ""));
  const podOf = (n) => n.split("/").slice(0, 2).join("/");
  const scopes = [...new Set(D.summary.scopes)];
  const F = { ns: "", port: -1, cls: CL.map(() => true), changed: false, search: "" };
  let searchMatch = null; // Uint8Array over names, or null when no search
  let R = null; // the decoded row columns
  let drillCell = null; // [heatmap, cell] of the open pod grid
  let selectedRow = -1;

  const $ = (sel, root) => (root || document).querySelector(sel);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid instanceof Node ? kid : String(kid));
    return e;
  }
  const fmt = (n) => Number(n).toLocaleString("en-US");
  const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
  function status(text, error) {
    const s = $("#status");
    s.textContent = text;
    s.classList.toggle("error", !!error);
  }
  function glyph(k) {
    const c = CL[k];
    return el("span", { class: "glyph c-" + c.name, "aria-hidden": "true", text: c.glyph });
  }
  function show(section, on) {
    $("#" + section).hidden = !on;
  }

  // ---- rows: inflate the packed columns once --------------------------------------------
  async function inflate(col) {
    const bin = atob(col.zlib);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const buf = await new Response(stream).arrayBuffer();
    if (col.type === "u1") return new Uint8Array(buf);
    if (col.type === "u2") return new Uint16Array(buf);
    return new Uint32Array(buf);
  }
  async function loadRows() {
    const entries = Object.entries(D.rows.columns);
    const arrays = await Promise.all(entries.map(([, col]) => inflate(col)));
    const out = {};
    entries.forEach(([name], i) => (out[name] = arrays[i]));
    for (const [name, arr] of Object.entries(out)) {
      if (arr.length !== D.rows.count) throw new Error(`column ${name}: ${arr.length} values for ${D.rows.count} rows`);
    }
    return out;
  }
  const str = (column, i) => D.rows.strings[column][R[column][i]];
  function scopeRange(scope) {
    // rows are sorted by scope: find the contiguous range of one scope
    const k = scopes.indexOf(scope);
    let lo = -1, hi = -1;
    if (k < 0) return [0, 0];
    const s = R.scope;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === k) {
        if (lo < 0) lo = i;
        hi = i + 1;
      } else if (lo >= 0) break;
    }
    return lo < 0 ? [0, 0] : [lo, hi];
  }

  // ---- filters ------------------------------------------------------------------------------
  function rowOk(i) {
    if (!F.cls[R.cls[i]]) return false;
    if (F.port >= 0 && R.pp[i] !== F.port) return false;
    if (F.changed && !(R.change && R.change[i])) return false;
    if (F.ns && nameNs[R.src[i]] !== F.ns && nameNs[R.dst[i]] !== F.ns) return false;
    if (searchMatch && !searchMatch[R.src[i]] && !searchMatch[R.dst[i]]) return false;
    return true;
  }
  function buildFilters() {
    const ns = $("#f-ns");
    for (const n of [...new Set(nameNs.filter((x) => x))].sort()) ns.append(el("option", { value: n, text: n }));
    const port = $("#f-port");
    D.ports.forEach((p, i) => port.append(el("option", { value: String(i), text: p })));
    const box = $("#f-cls");
    CL.forEach((c, k) => {
      const input = el("input", { type: "checkbox", checked: true, value: c.name, dataset: { cls: String(k) } });
      input.addEventListener("change", () => {
        F.cls[k] = input.checked;
        refresh();
      });
      box.append(el("label", {}, input, glyph(k), c.name));
    });
    if (D.drift) {
      $("#f-changed-label").hidden = false;
      $("#f-changed").addEventListener("change", (e) => {
        F.changed = e.target.checked;
        refresh();
      });
    }
    ns.addEventListener("change", () => {
      F.ns = ns.value;
      refresh();
    });
    port.addEventListener("change", () => {
      F.port = Number(port.value);
      refresh();
    });
    let timer = 0;
    $("#f-search").addEventListener("input", (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        F.search = e.target.value.trim().toLowerCase();
        searchMatch = F.search ? Uint8Array.from(names, (n) => (n.toLowerCase().includes(F.search) ? 1 : 0)) : null;
        refresh();
      }, 200);
    });
    $("#filters").addEventListener("submit", (e) => e.preventDefault());
  }

  // ---- heatmaps (aggregates only) ------------------------------------------------------------
  function cellClass(counts) {
    const c = counts.map((n, k) => (F.cls[k] ? n : 0));
    for (const k of [UA, UD, INC]) if (c[k]) return k;
    if (c[0] && c[1]) return "mixed";
    if (c[0]) return 0;
    if (c[1]) return 1;
    return null;
  }
  function countsText(counts) {
    return counts.map((n, k) => (n ? `${fmt(n)} ${CL[k].name}` : "")).filter((x) => x).join(", ");
  }
  function matchingNamespaces() {
    if (!searchMatch) return null;
    const out = new Set();
    searchMatch.forEach((m, i) => m && out.add(nameNs[i]));
    return out;
  }
  function renderHeatmaps() {
    const body = $("#heatmaps .body");
    body.replaceChildren();
    const marked = matchingNamespaces();
    let drawn = 0;
    for (const hm of D.heatmaps) {
      if (F.port >= 0 && hm.port !== F.port) continue;
      const cells = hm.cells.filter(
        ([s, d, , , counts, changed]) =>
          (!F.ns || D.namespaces[s] === F.ns || D.namespaces[d] === F.ns) &&
          (!F.changed || changed > 0) &&
          cellClass(counts) !== null,
      );
      if (!cells.length) continue;
      const rows = [...new Set(cells.map((c) => c[0]))].sort((a, b) => a - b);
      const cols = [...new Set(cells.map((c) => c[1]))].sort((a, b) => a - b);
      const at = new Map(cells.map((c) => [c[0] * 1048576 + c[1], c]));
      const port = D.ports[hm.port];
      const table = el("table", { class: "grid heatmap", dataset: { port } });
      table.append(el("caption", { text: port }));
      const head = el("tr", {}, el("th", { scope: "col", text: "from \\ to" }));
      for (const d of cols) {
        head.append(el("th", { scope: "col", class: marked && marked.has(D.namespaces[d]) ? "match" : null }, el("span", { text: D.namespaces[d] })));
      }
      table.append(el("thead", {}, head));
      const tbody = el("tbody");
      for (const s of rows) {
        const tr = el("tr", {}, el("th", { scope: "row", class: marked && marked.has(D.namespaces[s]) ? "match" : null, text: D.namespaces[s] }));
        for (const d of cols) {
          const cell = at.get(s * 1048576 + d);
          if (!cell) {
            tr.append(el("td", { class: "np", text: "–", title: "not probed" }));
            continue;
          }
          const k = cellClass(cell[4]);
          const name = k === "mixed" ? "mixed" : CL[k].name;
          const label = `${D.namespaces[s]} → ${D.namespaces[d]} ${port}: ${countsText(cell[4])}` + (cell[5] ? `; ${fmt(cell[5])} changed since the baseline` : "");
          tr.append(
            el("td", {
              class: "c-" + name + (cell[5] ? " changed" : ""),
              tabindex: "0",
              role: "button",
              title: label,
              "aria-label": label,
              text: k === "mixed" ? "±" : CL[k].glyph,
              dataset: { class: name, srcNs: D.namespaces[s], dstNs: D.namespaces[d], port, changed: String(cell[5]) },
              onclick: () => openDrill(hm, cell),
              onkeydown: (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), openDrill(hm, cell)),
            }),
          );
        }
        tbody.append(tr);
      }
      table.append(tbody);
      body.append(table);
      drawn++;
    }
    if (!drawn) body.append(el("p", { class: "muted", text: D.heatmaps.length ? "No pod-scope probe matches the filters." : "No pod-scope probes in this run." }));
  }

  // ---- pod x pod grid of one heatmap cell ------------------------------------------------
  function openDrill(hm, cell, page) {
    drillCell = [hm, cell];
    const [s, d, start, end] = cell;
    const port = D.ports[hm.port];
    show("drill", true);
    $("#drill-h").textContent = `${D.namespaces[s]} → ${D.namespaces[d]}, ${port}`;
    const body = $("#drill .body");
    if (!R) {
      body.replaceChildren(el("p", { class: "muted", text: "Loading rows…" })); // refresh() redraws it
      return;
    }
    const srcs = [], srcAt = new Map(), dstSet = new Set();
    for (let i = start; i < end; i++) {
      if (!srcAt.has(R.src[i])) {
        srcAt.set(R.src[i], srcs.length);
        srcs.push(R.src[i]);
      }
      dstSet.add(R.dst[i]);
    }
    const dsts = [...dstSet].sort((a, b) => a - b);
    const dstAt = new Map(dsts.map((x, j) => [x, j]));
    const pg = page || { r: 0, c: 0 };
    const r0 = pg.r * GRID, c0 = pg.c * GRID;
    const rs = srcs.slice(r0, r0 + GRID), cs = dsts.slice(c0, c0 + GRID);
    const index = new Int32Array(rs.length * cs.length).fill(-1);
    for (let i = start; i < end; i++) {
      const a = srcAt.get(R.src[i]) - r0, b = dstAt.get(R.dst[i]) - c0;
      if (a >= 0 && a < rs.length && b >= 0 && b < cs.length) index[a * cs.length + b] = i;
    }
    const table = el("table", { class: "grid pods", dataset: { port } });
    const head = el("tr", {}, el("th", { scope: "col", text: "from \\ to" }));
    for (const x of cs) head.append(el("th", { scope: "col", class: searchMatch && searchMatch[x] ? "match" : null }, el("span", { text: names[x], title: names[x] })));
    table.append(el("thead", {}, head));
    const tbody = el("tbody");
    rs.forEach((x, a) => {
      const tr = el("tr", {}, el("th", { scope: "row", class: searchMatch && searchMatch[x] ? "match" : null, text: names[x], title: names[x] }));
      cs.forEach((y, b) => {
        const i = index[a * cs.length + b];
        if (i < 0) {
          tr.append(el("td", { class: "np", text: "–", title: `${names[x]} → ${names[y]}: not probed` }));
          return;
        }
        const k = R.cls[i];
        const label = `${names[x]} → ${names[y]} ${port}: ${CL[k].name} (${str("state", i)})`;
        tr.append(
          el("td", {
            class: `c-${CL[k].name}` + (rowOk(i) ? "" : " off") + (R.change && R.change[i] ? " changed" : "") + (i === selectedRow ? " selected" : ""),
            tabindex: "0",
            role: "button",
            title: label,
            "aria-label": label,
            text: CL[k].glyph,
            dataset: { row: String(i), class: CL[k].name, src: names[x], dst: names[y] },
          }),
        );
      });
      tbody.append(tr);
    });
    table.append(tbody);
    table.addEventListener("click", (e) => {
      const td = e.target.closest("td[data-row]");
      if (td) showProbe(Number(td.dataset.row), td);
    });
    table.addEventListener("keydown", (e) => {
      const td = e.target.closest("td[data-row]");
      if (td && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        showProbe(Number(td.dataset.row), td);
      }
    });
    const parts = [
      el("p", { class: "muted", text: `${fmt(srcs.length)} source pods × ${fmt(dsts.length)} destination pods; ${countsText(cell[4])}.` }),
    ];
    if (srcs.length > GRID || dsts.length > GRID) {
      const pager = el("div", { class: "pager" });
      const move = (dr, dc) => openDrill(hm, cell, { r: pg.r + dr, c: pg.c + dc });
      pager.append(
        `sources ${fmt(r0 + 1)}–${fmt(r0 + rs.length)} of ${fmt(srcs.length)}`,
        el("button", { type: "button", disabled: pg.r === 0, text: "◀ sources", onclick: () => move(-1, 0) }),
        el("button", { type: "button", disabled: r0 + GRID >= srcs.length, text: "sources ▶", onclick: () => move(1, 0) }),
        `destinations ${fmt(c0 + 1)}–${fmt(c0 + cs.length)} of ${fmt(dsts.length)}`,
        el("button", { type: "button", disabled: pg.c === 0, text: "◀ destinations", onclick: () => move(0, -1) }),
        el("button", { type: "button", disabled: c0 + GRID >= dsts.length, text: "destinations ▶", onclick: () => move(0, 1) }),
      );
      parts.push(pager);
    }
    parts.push(table);
    body.replaceChildren(...parts);
    if (!page) $("#drill").scrollIntoView({ block: "nearest" });
  }

  // ---- one probe --------------------------------------------------------------------------
  function showProbe(i, cellElement) {
    selectedRow = i;
    document.querySelectorAll(".grid td.selected").forEach((x) => x.classList.remove("selected"));
    if (cellElement) cellElement.classList.add("selected");
    const k = R.cls[i];
    const lat = R.latency[i];
    const fields = [
      ["source", names[R.src[i]]],
      ["destination", names[R.dst[i]]],
      ["port", D.ports[R.pp[i]]],
      ["scope", scopes[R.scope[i]]],
      ["verdict", null],
      ["expected", str("expected", i)],
      ["observed", str("observed", i)],
      ["state", str("state", i)],
      ["evidence", str("evidence", i)],
      ["latency", lat === NO_LATENCY ? "–" : `${Number((lat / 1000).toPrecision(3))} ms`],
      ["reason", str("reason", i)],
      ["confirmed", str("confirmed", i) || "–"],
    ];
    if (D.rows.strings.intent_verdict) fields.push(["intended", str("intended", i)], ["intent verdict", str("intent_verdict", i)]);
    if (R.change) fields.push(["since the baseline", D.changes[R.change[i] - 1] || "unchanged"]);
    for (const extra of Object.keys(D.rows.strings)) {
      if (!["expected", "observed", "state", "evidence", "reason", "confirmed", "intended", "intent_verdict"].includes(extra)) fields.push([extra, str(extra, i)]);
    }
    const dl = $("#probe dl");
    dl.replaceChildren();
    for (const [key, value] of fields) {
      const dd = el("dd", { dataset: { field: key } });
      if (key === "verdict") dd.append(glyph(k), " ", CL[k].name, el("span", { class: "muted", text: ` — ${CL[k].meaning}` }));
      else dd.textContent = value;
      dl.append(el("dt", { text: key }), dd);
    }
    $("#probe-h").textContent = `Probe ${names[R.src[i]]} → ${names[R.dst[i]]} ${D.ports[R.pp[i]]}`;
    const panel = $("#probe");
    panel.hidden = false;
    panel.dataset.row = String(i);
  }

  // ---- tables of rows ------------------------------------------------------------------------
  const TABLE_COLUMNS = [
    ["verdict", (i) => glyph(R.cls[i]), (i) => CL[R.cls[i]].name],
    ["source", (i) => names[R.src[i]]],
    ["destination", (i) => names[R.dst[i]]],
    ["port", (i) => D.ports[R.pp[i]]],
    ["scope", (i) => scopes[R.scope[i]]],
    ["expected", (i) => str("expected", i)],
    ["observed", (i) => str("observed", i)],
    ["state", (i) => str("state", i)],
    ["confirmed", (i) => str("confirmed", i)],
    ["reason", (i) => cut(str("reason", i), 140)],
  ];
  function tableColumns() {
    const cols = TABLE_COLUMNS.slice();
    if (D.rows.strings.intent_verdict) cols.push(["intent", (i) => str("intent_verdict", i)]);
    if (R.change) cols.push(["change", (i) => D.changes[R.change[i] - 1] || ""]);
    return cols;
  }
  function rowTable(container, rows, empty, page) {
    const p = page || 0;
    const cols = tableColumns();
    container.replaceChildren();
    if (!rows.length) {
      container.append(el("p", { class: "muted", text: empty }));
      return;
    }
    const table = el("table", { class: "data rows" });
    table.append(el("thead", {}, el("tr", {}, ...cols.map(([h]) => el("th", { scope: "col", text: h })))));
    const tbody = el("tbody");
    const last = Math.min(rows.length, (p + 1) * PAGE);
    for (let n = p * PAGE; n < last; n++) {
      const i = rows[n];
      const tr = el("tr", { class: "clickable", tabindex: "0", dataset: { row: String(i), class: CL[R.cls[i]].name } });
      for (const [, cell, extra] of cols) {
        const v = cell(i);
        tr.append(v instanceof Node ? el("td", {}, v, " ", extra(i)) : el("td", { text: v }));
      }
      tbody.append(tr);
    }
    table.append(tbody);
    table.addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-row]");
      if (tr) showProbe(Number(tr.dataset.row));
    });
    table.addEventListener("keydown", (e) => {
      const tr = e.target.closest("tr[data-row]");
      if (tr && e.key === "Enter") showProbe(Number(tr.dataset.row));
    });
    const parts = [];
    if (rows.length > PAGE) {
      parts.push(
        el(
          "div",
          { class: "pager" },
          `rows ${fmt(p * PAGE + 1)}–${fmt(last)} of ${fmt(rows.length)}`,
          el("button", { type: "button", disabled: p === 0, text: "◀ previous", onclick: () => rowTable(container, rows, empty, p - 1) }),
          el("button", { type: "button", disabled: last >= rows.length, text: "next ▶", onclick: () => rowTable(container, rows, empty, p + 1) }),
        ),
      );
    }
    container.append(...parts, table);
  }
  function collect(lo, hi, test, order) {
    // indexes of rows in [lo, hi) passing the filters and `test`, grouped by class priority
    const buckets = CL.map(() => []);
    for (let i = lo; i < hi; i++) if (rowOk(i) && (!test || test(i))) buckets[R.cls[i]].push(i);
    return (order || PRIORITY).flatMap((k) => buckets[k]);
  }

  function renderUnexpected() {
    const rows = collect(0, D.rows.count, (i) => R.cls[i] === UA || R.cls[i] === UD, [UA, UD]);
    const total = D.summary.counts.reduce((acc, c) => acc + c[UA] + c[UD], 0);
    $("#unexpected-h").textContent = `Unexpected (${fmt(total)})`;
    rowTable($("#unexpected .body"), rows, total ? "No unexpected row matches the filters." : "None: every probe that measured matched the policies.");
  }
  function renderAll() {
    if (!$("#all-details").open) return;
    rowTable($("#all .body"), collect(0, D.rows.count), "No probe matches the filters.");
  }
  function renderScopes() {
    const body = $("#scopes .body");
    body.replaceChildren();
    const others = scopes.filter((s) => s !== "pod" && s !== "intra-pod");
    show("scopes", others.length > 0);
    for (const scope of others) {
      const [lo, hi] = scopeRange(scope);
      const box = el("div");
      body.append(el("h3", { text: `${scope} (${fmt(hi - lo)})` }), box);
      rowTable(box, collect(lo, hi), `No ${scope} row matches the filters.`);
    }
  }
  function renderIntrapod(page) {
    const [lo, hi] = scopeRange("intra-pod");
    show("intrapod", hi > lo);
    if (hi <= lo) return;
    const pods = new Map();
    for (let i = lo; i < hi; i++) {
      if (!rowOk(i)) continue;
      const pod = podOf(names[R.src[i]]);
      if (!pods.has(pod)) pods.set(pod, []);
      pods.get(pod).push(i);
    }
    const body = $("#intrapod .body");
    body.replaceChildren();
    const list = [...pods.keys()].sort();
    if (!list.length) body.append(el("p", { class: "muted", text: "No intra-pod row matches the filters." }));
    const p = page || 0;
    if (list.length > PODS_PER_PAGE) {
      const last = Math.min(list.length, (p + 1) * PODS_PER_PAGE);
      body.append(
        el(
          "div",
          { class: "pager" },
          `pods ${p * PODS_PER_PAGE + 1}–${last} of ${list.length}`,
          el("button", { type: "button", disabled: p === 0, text: "◀ previous", onclick: () => renderIntrapod(p - 1) }),
          el("button", { type: "button", disabled: last >= list.length, text: "next ▶", onclick: () => renderIntrapod(p + 1) }),
        ),
      );
    }
    for (const pod of list.slice(p * PODS_PER_PAGE, (p + 1) * PODS_PER_PAGE)) {
      const rows = pods.get(pod);
      const container = (x) => names[x].slice(pod.length + 1);
      const srcs = [...new Set(rows.map((i) => R.src[i]))].sort((a, b) => a - b);
      const targets = [...new Set(rows.map((i) => `${R.dst[i]}:${R.pp[i]}`))].sort();
      const at = new Map(rows.map((i) => [`${R.src[i]}|${R.dst[i]}:${R.pp[i]}`, i]));
      const table = el("table", { class: "grid pods", dataset: { pod } });
      table.append(el("caption", { text: pod }));
      const head = el("tr", {}, el("th", { scope: "col", text: "from \\ to" }));
      for (const t of targets) {
        const [dst, pp] = t.split(":").map(Number);
        head.append(el("th", { scope: "col" }, el("span", { text: `${container(dst)} ${D.ports[pp]}` })));
      }
      table.append(el("thead", {}, head));
      const tbody = el("tbody");
      for (const s of srcs) {
        const tr = el("tr", {}, el("th", { scope: "row", text: container(s) }));
        for (const t of targets) {
          const i = at.get(`${s}|${t}`);
          if (i === undefined) {
            tr.append(el("td", { class: "np", text: "–" }));
            continue;
          }
          const k = R.cls[i];
          const label = `${names[s]} → ${names[R.dst[i]]} ${D.ports[R.pp[i]]}: ${CL[k].name} (${str("state", i)})`;
          tr.append(el("td", { class: `c-${CL[k].name}` + (R.change && R.change[i] ? " changed" : ""), tabindex: "0", role: "button", title: label, "aria-label": label, text: CL[k].glyph, dataset: { row: String(i), class: CL[k].name } }));
        }
        tbody.append(tr);
      }
      table.append(tbody);
      table.addEventListener("click", (e) => {
        const td = e.target.closest("td[data-row]");
        if (td) showProbe(Number(td.dataset.row), td);
      });
      body.append(el("div", { class: "intrapod" }, table));
    }
  }

  // ---- sections other features add ----------------------------------------------------------
  function kv(obj) {
    const dl = el("dl");
    for (const [k, v] of Object.entries(obj)) dl.append(el("dt", { text: k }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) }));
    return dl;
  }
  function textOf(v) {
    if (v === null || v === undefined) return "";
    if (Array.isArray(v)) return v.map(textOf).join(", ");
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function genericTable(items, preferred) {
    const keys = [];
    for (const item of items.slice(0, 50)) {
      if (item && typeof item === "object" && !Array.isArray(item)) for (const k of Object.keys(item)) if (!keys.includes(k)) keys.push(k);
    }
    const order = [...preferred.filter((k) => keys.includes(k)), ...keys.filter((k) => !preferred.includes(k))].slice(0, 10);
    const table = el("table", { class: "data" });
    table.append(el("thead", {}, el("tr", {}, ...order.map((k) => el("th", { scope: "col", text: k })))));
    const tbody = el("tbody");
    for (const item of items) {
      const tr = el("tr");
      for (const k of order) {
        const v = item && typeof item === "object" ? item[k] : k === order[0] ? item : "";
        if (k === "fix" && v) tr.append(el("td", {}, el("pre", { class: "fix", text: textOf(v) })));
        else tr.append(el("td", { class: k === "severity" ? `sev-${textOf(v)}` : null, text: textOf(v) }));
      }
      tbody.append(tr);
    }
    table.append(tbody);
    return table;
  }
  function renderSections() {
    const s = D.sections || {};
    const rank = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
    const bySeverity = (a, b) => (rank[a && a.severity] ?? 9) - (rank[b && b.severity] ?? 9);
    if (s.audit) {
      show("audit", true);
      $("#audit-h").textContent = `Audit findings (${fmt(s.audit.length)})`;
      $("#audit .body").replaceChildren(genericTable(s.audit.slice().sort(bySeverity), ["severity", "id", "title", "message", "objects", "fix"]));
    }
    if (s.exposure) {
      show("exposure", true);
      $("#exposure .body").replaceChildren(genericTable(s.exposure.slice().sort(bySeverity), ["severity", "source", "destination", "state", "evidence"]));
    }
    if (s.coverage) {
      show("coverage", true);
      $("#coverage .body").replaceChildren(kv(s.coverage));
    }
    if (D.intent) {
      show("intent", true);
      const body = $("#intent .body");
      body.replaceChildren(el("p", { text: Object.entries(D.intent).map(([k, n]) => `${fmt(n)} ${k}`).join(", ") }), el("div", { class: "rows" }));
    }
    if (D.drift) {
      show("drift", true);
      const dr = D.drift;
      const body = $("#drift .body");
      const total = Object.values(dr.counts).reduce((a, b) => a + b, 0);
      body.replaceChildren(
        el("p", {}, "Baseline ", el("b", { text: dr.baseline }), `: ${fmt(total)} changed cell${total === 1 ? "" : "s"}` + (dr.unmeasured ? `; ${fmt(dr.unmeasured)} cells did not measure in one of the runs` : "") + ". Changed cells are outlined ", el("span", { class: "glyph changed-sample", text: "⬚" }), " in the maps and grids."),
        el("table", { class: "data", id: "drift-counts" }, el("thead", {}, el("tr", {}, ...Object.keys(dr.counts).map((k) => el("th", { scope: "col", class: "num", text: k })))), el("tbody", {}, el("tr", {}, ...Object.values(dr.counts).map((n) => el("td", { class: "num", text: fmt(n) }))))),
      );
      for (const note of dr.notes) body.append(el("p", { class: "muted", text: note }));
      if (dr.renamed.length) {
        body.append(el("h3", { text: `Pods matched by workload (${fmt(dr.renamed_total)})` }), genericTable(dr.renamed.map(([o, n, w]) => ({ baseline: o, now: n, workload: w })), ["baseline", "now", "workload"]));
      }
      body.append(el("h3", { text: "Changed cells of this run" }), el("div", { class: "rows" }));
      if (dr.disappeared_total) {
        body.append(
          el("h3", { text: `Disappeared (${fmt(dr.disappeared_total)}${dr.disappeared_total > dr.disappeared.length ? `, first ${fmt(dr.disappeared.length)}; kubereach diff lists all` : ""})` }),
          genericTable(dr.disappeared.map(([a, b, p, sc, old]) => ({ source: a, destination: b, port: p, scope: sc, "observed then": old })), ["source", "destination", "port", "scope", "observed then"]),
        );
      }
    }
  }
  function renderRowSections() {
    if (D.intent) rowTable($("#intent .rows"), collect(0, D.rows.count, (i) => str("intent_verdict", i).startsWith("violation")), "No intent violation matches the filters.");
    if (D.drift) rowTable($("#drift .rows"), collect(0, D.rows.count, (i) => R.change[i] > 0), "No changed cell of this run matches the filters.");
  }

  // ---- wiring ------------------------------------------------------------------------------------
  function refresh() {
    renderHeatmaps();
    if (drillCell) openDrill(drillCell[0], drillCell[1]);
    if (!R) return; // the rest is drawn once the rows are inflated
    renderUnexpected();
    renderIntrapod();
    renderScopes();
    renderRowSections();
    renderAll();
  }
  function start() {
    buildFilters();
    renderSections();
    renderHeatmaps();
    $("#probe-close").addEventListener("click", () => ($("#probe").hidden = true));
    $("#all-details").addEventListener("toggle", renderAll);
    document.documentElement.dataset.ready = "aggregates";
    status(`Inflating ${fmt(D.rows.count)} probe rows…`);
    if (typeof DecompressionStream === "undefined") {
      status("This browser cannot read the embedded probe rows (it lacks DecompressionStream): use a current Chrome, Firefox or Safari, or read probes.csv.", true);
      return;
    }
    const t0 = performance.now();
    loadRows()
      .then((rows) => {
        R = rows;
        refresh();
        status(`${fmt(D.rows.count)} probe rows ready (${Math.round(performance.now() - t0)} ms).`);
        document.documentElement.dataset.rows = "ready";
      })
      .catch((err) => status(`Could not read the embedded probe rows: ${err}`, true));
  }
  start();
})();
