// The kido staff app: keyboard-wedge and camera scanning, the verdict, the
// gate's state, find and manual admission, undo of the last admission. Every string is in both
// languages below; the API is specified in docs/staff-app.md.
"use strict";

const T = {
  en: {
    title: "kido gate", ready: "Scan a ticket", entry: "Entry", exit: "Exit",
    modeEntry: "Recording ENTRIES", modeExit: "Recording EXITS",
    cameraOn: "Camera on", cameraOff: "Camera off", cameraFail: "The camera cannot be used: {err}",
    find: "Find / admit", lock: "Lock", close: "Close", cancel: "Cancel", unlock: "Unlock", search: "Search",
    pinTitle: "Staff PIN", pinLabel: "Enter the staff PIN", pinWrong: "Wrong PIN", pinWait: "Too many wrong PINs: wait {n} s",
    findTitle: "Find a ticket", findLabel: "Name, order reference or serial", noMatch: "No ticket matches",
    history: "Passages", noHistory: "Not used yet", reasonLabel: "Reason for admitting without a scan (required)",
    admit: "Admit manually", reasonNeeded: "Give the reason first",
    stateLabel: "Gate state",
    syncOff: "sync off", syncConnecting: "connecting…", syncOnline: "online", syncOffline: "OFFLINE",
    syncRefused: "SYNC REFUSED: call the operator", syncConflict: "SYNC CONFLICT: call the operator", syncRevoked: "GATE REVOKED",
    pending: "{n} to upload", lastSync: "last sync {t}", never: "never synced",
    clock: "CLOCK {ago} behind: decisions use trusted time",
    counts: "admitted {a} · inside {i} · {m}/min here",
    wordAdmit: "ADMIT", wordReject: "STOP", wordExit: "EXIT",
    tier: "Tier: {t}", serial: "serial {s}", revoked: "cancelled", used: "used {n}×, last {t}", unused: "not used",
    kEntry: "entry", kExit: "exit", kManual: "manual admission", here: "(this gate)",
    r_ok: "Valid ticket", n_ok: "Let them in",
    r_exit_recorded: "Exit recorded", n_exit_recorded: "They may leave; coming back needs a scan at an entry",
    r_already_used: "Already used", n_already_used: "Do not admit: send them to the help desk",
    u_here: "admitted here {ago} ago", u_there: "first at {gate}, {time} ({ago} ago)", u_manual: " (manually)",
    n_retry: "Just admitted here: the same person may pass, anyone else may not",
    r_revoked: "Ticket cancelled", n_revoked: "Do not admit: send them to the help desk",
    r_replaced: "Replaced by serial {n}", n_replaced: "This ticket was reissued: ask for the newer ticket (serial {n})",
    r_tier_retired: "This ticket type was withdrawn", n_tier_retired: "Do not admit: send them to the help desk",
    r_bad_signature: "Forged or damaged ticket", n_bad_signature: "Ask for another copy of the ticket; if it fails again, help desk",
    r_unknown_key: "Signed by a key this gate does not know", n_unknown_key: "This gate last synced {ago}: check the network, then scan again",
    r_key_revoked: "Signing key withdrawn", n_key_revoked: "Do not admit: send them to the help desk",
    r_wrong_event: "Ticket for another event", n_wrong_event: "Check the date and venue on their ticket",
    r_wrong_tier: "This gate does not take this tier", n_wrong_tier: "Send them to a gate for {tier}",
    r_not_yet_valid: "Not valid yet", n_not_yet_valid: "Doors are not open for this ticket: ask them to wait",
    r_expired: "Ticket expired", n_expired: "The event is over for this ticket",
    r_malformed: "Not a kido ticket", n_malformed: "Scan the ticket's QR code, not another code",
    r_fault: "Gate fault: cannot decide", n_fault: "Do not admit; call the operator",
    agoS: "{n} s", agoM: "{n} min", agoH: "{h} h {m} min", agoNever: "never",
    undo: "Undo last admission", undoTitle: "Undo the last admission at this gate",
    undoLast: "{holder} · {tier} · admitted {time}", undoLeft: "{n} s left to undo", undoConfirm: "Undo this admission",
    undo_nothing: "Nothing to undo: no one was admitted at this gate yet",
    undo_exit: "The last passage here is an exit: only an admission can be undone",
    undo_twice: "The last admission here is already undone",
    undo_late: "Too late: an admission can be undone for 2 minutes only. Ask the operator to correct it",
    wordUndo: "UNDONE", r_undone: "Admission annulled: {holder}, {time}", n_undone: "Their ticket can be scanned again",
    kUndo: "undo", undoneMark: "(undone)",
  },
  ja: {
    title: "kido ゲート", ready: "チケットをスキャンしてください", entry: "入場", exit: "退場",
    modeEntry: "入場を記録中", modeExit: "退場を記録中",
    cameraOn: "カメラをオン", cameraOff: "カメラをオフ", cameraFail: "カメラを使えません：{err}",
    find: "検索・手動入場", lock: "ロック", close: "閉じる", cancel: "キャンセル", unlock: "ロック解除", search: "検索",
    pinTitle: "スタッフPIN", pinLabel: "スタッフPINを入力してください", pinWrong: "PINが違います", pinWait: "PINの誤りが多すぎます：{n}秒お待ちください",
    findTitle: "チケットを検索", findLabel: "氏名・注文番号・シリアル", noMatch: "該当するチケットはありません",
    history: "通過履歴", noHistory: "未使用", reasonLabel: "スキャンせずに入場させる理由（必須）",
    admit: "手動で入場", reasonNeeded: "先に理由を入力してください",
    stateLabel: "ゲートの状態",
    syncOff: "同期オフ", syncConnecting: "接続中…", syncOnline: "オンライン", syncOffline: "オフライン",
    syncRefused: "同期拒否：運営に連絡してください", syncConflict: "同期の競合：運営に連絡してください", syncRevoked: "このゲートは無効化されました",
    pending: "未送信 {n} 件", lastSync: "最終同期 {t}", never: "未同期",
    clock: "端末の時計が {ago} 遅れています：信頼できる時刻で判定中",
    counts: "入場済み {a} · 場内 {i} · このゲート {m}件/分",
    wordAdmit: "入場OK", wordReject: "入場不可", wordExit: "退場",
    tier: "券種：{t}", serial: "シリアル {s}", revoked: "無効", used: "{n}回使用、最終 {t}", unused: "未使用",
    kEntry: "入場", kExit: "退場", kManual: "手動入場", here: "（このゲート）",
    r_ok: "有効なチケットです", n_ok: "入場してください",
    r_exit_recorded: "退場を記録しました", n_exit_recorded: "再入場は入場ゲートでスキャンが必要です",
    r_already_used: "使用済みのチケットです", n_already_used: "入場させずに受付へご案内ください",
    u_here: "{ago}前にこのゲートで入場済み", u_there: "{time} に {gate} で入場済み（{ago}前）", u_manual: "（手動）",
    n_retry: "このゲートで入場したばかり：同じ方なら通過可、別の方は入場不可",
    r_revoked: "このチケットは無効化されています", n_revoked: "入場させずに受付へご案内ください",
    r_replaced: "シリアル {n} に差し替えられたチケットです", n_replaced: "再発行済みです：新しいチケット（シリアル {n}）を見せていただいてください",
    r_tier_retired: "この券種は取り扱いを終了しました", n_tier_retired: "入場させずに受付へご案内ください",
    r_bad_signature: "偽造または破損したチケットです", n_bad_signature: "別の表示でもう一度。再び失敗したら受付へ",
    r_unknown_key: "このゲートが知らない鍵で署名されています", n_unknown_key: "最終同期は{ago}：ネットワークを確認して再スキャンしてください",
    r_key_revoked: "署名鍵が取り消されています", n_key_revoked: "入場させずに受付へご案内ください",
    r_wrong_event: "別のイベントのチケットです", n_wrong_event: "チケットの日付と会場を確認してください",
    r_wrong_tier: "このゲートではこの券種は入場できません", n_wrong_tier: "{tier} のゲートへご案内ください",
    r_not_yet_valid: "まだ有効ではありません", n_not_yet_valid: "このチケットはまだ開場前です：お待ちいただいてください",
    r_expired: "期限切れのチケットです", n_expired: "このチケットのイベントは終了しました",
    r_malformed: "kido のチケットではありません", n_malformed: "チケットのQRコードをスキャンしてください",
    r_fault: "ゲート障害：判定できません", n_fault: "入場させずに運営に連絡してください",
    agoS: "{n}秒", agoM: "{n}分", agoH: "{h}時間{m}分", agoNever: "未同期",
    undo: "直前の入場を取り消す", undoTitle: "このゲートの直前の入場を取り消す",
    undoLast: "{holder} · {tier} · {time} 入場", undoLeft: "取り消しできるのはあと {n} 秒", undoConfirm: "この入場を取り消す",
    undo_nothing: "取り消す入場がありません：このゲートではまだ誰も入場していません",
    undo_exit: "直前の通過は退場です：取り消せるのは入場だけです",
    undo_twice: "直前の入場はすでに取り消されています",
    undo_late: "時間切れ：入場の取り消しは2分以内のみです。運営に訂正を依頼してください",
    wordUndo: "取り消し済み", r_undone: "入場を取り消しました：{holder}、{time}", n_undone: "このチケットは再度スキャンできます",
    kUndo: "取り消し", undoneMark: "（取り消し済み）",
  },
};

const $ = (id) => document.getElementById(id);
const clearAfter = { admit: 3000, exit: 3000, reject: 6000, undo: 4000 };
let lang = localStorage.getItem("kido-lang") || ((navigator.language || "en").toLowerCase().startsWith("ja") ? "ja" : "en");
let state = null;       // the last GET /api/state
let exitMode = false;   // at a gate whose direction is both
let token = "";         // unlock token, in memory only
let shown = null;       // the verdict on screen
let clearTimer = 0;
let buf = "";           // keys typed since the last Enter; never displayed
let lastKey = 0;
let audio = null;
let scans = 0;
window.kidoTimings = [];  // Enter (or frame grabbed) to verdict painted, ms, for kido-bench
window.kidoPainted = [];  // when each of those verdicts was painted (performance.now)

function t(key, vars) {
  let s = T[lang][key];
  if (s === undefined) s = T.en[key];
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll("{" + k + "}", v);
  return s;
}

function ago(seconds) {
  const n = Math.max(0, Math.floor(seconds));
  if (n < 60) return t("agoS", { n });
  if (n < 3600) return t("agoM", { n: Math.floor(n / 60) });
  return t("agoH", { h: Math.floor(n / 3600), m: Math.floor((n % 3600) / 60) });
}

// Times are the venue's wall clock: in the event's zone when the gate
// knows it (state.time_zone), else the device's.
const hhmm = (iso) => {
  const opts = { hour: "2-digit", minute: "2-digit" };
  if (state && state.time_zone) opts.timeZone = state.time_zone;
  try {
    return new Date(iso).toLocaleTimeString(lang === "ja" ? "ja-JP" : "en-GB", opts);
  } catch (e) {
    delete opts.timeZone; // a zone this browser does not know
    return new Date(iso).toLocaleTimeString(lang === "ja" ? "ja-JP" : "en-GB", opts);
  }
};

async function api(path, body, type) {
  const opt = { method: body === undefined ? "GET" : "POST", headers: { "X-Kido-Staff": "1" } };
  if (token) opt.headers["X-Kido-Unlock"] = token;
  if (body !== undefined) {
    opt.headers["Content-Type"] = type || "application/json";
    opt.body = type ? body : JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  const j = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error(j.error || r.statusText);
    e.status = r.status;
    e.why = j.why;
    throw e;
  }
  return j;
}

// ---- language

function applyLang() {
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("bar").setAttribute("aria-label", t("stateLabel"));
  $("lang").textContent = lang === "ja" ? "English" : "日本語";
  $("lang").lang = lang === "ja" ? "en" : "ja";
  $("camera").textContent = stream ? t("cameraOff") : t("cameraOn");
  renderState();
  if (shown) renderVerdict(shown);
}

// ---- state bar

function renderState() {
  const s = state;
  if (!s) return;
  $("event").textContent = s.event;
  $("gate").textContent = s.gate;
  const sync = $("sync");
  const word = { off: "syncOff", connecting: "syncConnecting", online: "syncOnline", offline: "syncOffline",
    refused: "syncRefused", conflict: "syncConflict", revoked: "syncRevoked" }[s.sync] || "syncOffline";
  sync.textContent = t(word);
  sync.dataset.state = s.sync;
  sync.className = "pill " + (s.sync === "online" ? "good" : s.sync === "off" || s.sync === "connecting" ? "" : "bad");
  const p = $("pending");
  p.textContent = t("pending", { n: s.pending });
  p.dataset.n = s.pending;
  p.className = "pill" + (s.pending > 0 && s.sync !== "online" ? " warn" : "");
  $("lastsync").textContent = s.last_sync
    ? t("lastSync", { t: hhmm(s.last_sync) + " (" + ago((Date.parse(s.now) - Date.parse(s.last_sync)) / 1000) + ")" })
    : t("never");
  const c = $("clock");
  c.hidden = !(s.clock_behind_seconds > 0);
  c.textContent = t("clock", { ago: ago(s.clock_behind_seconds) });
  $("counts").textContent = t("counts", { a: s.admitted, i: s.inside, m: s.per_minute });
  $("counts").dataset.admitted = s.admitted;
  const both = s.direction === "both";
  $("direction").hidden = !both;
  if (!both) exitMode = s.direction === "exit";
  $("entry").setAttribute("aria-checked", String(!exitMode));
  $("exit").setAttribute("aria-checked", String(exitMode));
  $("mode").textContent = t(exitMode ? "modeExit" : "modeEntry");
  $("mode").dataset.mode = exitMode ? "exit" : "entry";
  $("lockbtn").hidden = !token;
  $("undobtn").hidden = s.direction === "exit"; // an exit gate admits no one to undo
}

async function poll() {
  try {
    state = await api("/api/state");
    renderState();
  } catch (e) {
    $("sync").textContent = t("r_fault");
    $("sync").className = "pill bad";
  }
}

// ---- verdict

function reasonLines(v) {
  if (v.decision === "undo") {
    return [t("r_undone", { holder: v.holder || t("serial", { s: v.serial }), time: hhmm(v.at) }), t("n_undone")];
  }
  let reason = t("r_" + v.reason, { n: v.replaced_by || "" });
  let next = t("n_" + v.reason, { tier: v.tier_name || "", n: v.replaced_by || "" });
  if (v.reason === "already_used" && v.first) {
    const f = v.first;
    reason += ": " + (f.here ? t("u_here", { ago: ago(f.ago_seconds) }) : t("u_there", { gate: f.gate_name, time: hhmm(f.at), ago: ago(f.ago_seconds) }));
    if (f.manual) reason += t("u_manual");
    if (f.here && f.ago_seconds < 120) next = t("n_retry");
  }
  if (v.reason === "unknown_key") {
    const since = state && state.last_sync ? ago((Date.parse(state.now) - Date.parse(state.last_sync)) / 1000) : t("agoNever");
    next = t("n_unknown_key", { ago: since });
  }
  if (v.reason === "fault" && v.error) next += " (" + v.error + ")";
  return [reason, next];
}

// verdictKind is how a verdict looks and sounds: admit, exit, reject, or
// undo (staff annulled an admission).
function verdictKind(v) {
  if (v.decision === "undo") return "undo";
  return v.decision === "admit" ? (v.kind === "exit" ? "exit" : "admit") : "reject";
}

function renderVerdict(v) {
  const kind = verdictKind(v);
  const el = $("verdict");
  el.className = kind;
  el.dataset.id = v.id;
  el.dataset.decision = v.decision;
  el.dataset.reason = v.reason;
  $("vicon").textContent = { admit: "✓", exit: "↩", reject: "✕", undo: "↶" }[kind];
  $("vword").textContent = t({ admit: "wordAdmit", exit: "wordExit", reject: "wordReject", undo: "wordUndo" }[kind]);
  const [reason, next] = reasonLines(v);
  $("vreason").textContent = reason;
  $("vnext").textContent = next;
  $("vholder").textContent = v.holder || "";
  $("vtier").textContent = v.tier_name ? t("tier", { t: v.tier_name }) : "";
  el.hidden = false;
  $("announce").textContent = [$("vword").textContent, reason, next, v.holder || ""].join(". ");
}

function show(v, started) {
  shown = v;
  renderVerdict(v);
  const kind = verdictKind(v);
  sound(kind);
  if (navigator.vibrate) navigator.vibrate(kind === "reject" ? [300, 100, 300] : [80]);
  clearTimeout(clearTimer);
  clearTimer = setTimeout(clearVerdict, clearAfter[kind]);
  if (started !== undefined) {
    // Painted: the frame after this one has begun, so this one is on screen.
    requestAnimationFrame(() => setTimeout(() => {
      const now = performance.now();
      window.kidoPainted.push(now);
      window.kidoTimings.push(now - started);
      performance.measure("kido-scan-" + v.id, { start: started, end: now });
    }, 0));
  }
  poll();
}

function clearVerdict() {
  shown = null;
  $("verdict").hidden = true;
  focusHome();
}

// startAudio makes the audio context on the first key or click (browsers
// allow sound only after one), not with the first verdict, which would
// wait for it.
function startAudio() {
  if (!audio) {
    try { audio = new AudioContext(); } catch (e) { /* no audio device */ }
  }
}

// Distinct sounds, made here (no sound files): one high beep to admit, a
// falling pair for an exit, three low buzzes to reject.
function sound(kind) {
  try {
    startAudio();
    const tones = { admit: [[1320, 0, .15]], exit: [[880, 0, .12], [660, .16, .12]], undo: [[660, 0, .12], [990, .16, .12]],
      reject: [[200, 0, .22], [200, .3, .22], [200, .6, .22]] }[kind];
    for (const [f, at, len] of tones) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.type = kind === "reject" ? "square" : "sine";
      o.frequency.value = f;
      g.gain.value = .25;
      o.connect(g).connect(audio.destination);
      o.start(audio.currentTime + at);
      o.stop(audio.currentTime + at + len);
    }
  } catch (e) { /* no audio device: the screen still shows the verdict */ }
}

// ---- wedge scanner

async function submitScan(text, started) {
  scans++;
  try {
    show(await api("/api/scan", { text, exit: exitMode }), started);
  } catch (e) {
    show({ id: 0, decision: "reject", reason: "fault", error: e.message }, started);
  }
}

function inDialog(target) {
  return target && target.closest && target.closest("dialog[open]");
}

// Keys are caught before any element sees them, so a scanner's digits
// never land in a field or press a button, and are never displayed.
document.addEventListener("keydown", (e) => {
  startAudio();
  if (inDialog(e.target) || e.ctrlKey || e.altKey || e.metaKey) return;
  const now = performance.now();
  // A stray key long ago is not the start of this scan. A scanner types
  // its line in milliseconds; the bound is generous for a loaded device.
  if (now - lastKey > 5000) buf = "";
  lastKey = now;
  if (e.key === "Enter") {
    if (buf === "") return; // Enter on a focused button
    e.preventDefault();
    e.stopPropagation();
    const text = buf;
    buf = "";
    submitScan(text, now);
    return;
  }
  if (e.key === "Escape" && shown) {
    clearVerdict();
    return;
  }
  // Space stays a key for buttons: no ticket holds one, and the gate
  // ignores spaces in a scan anyway.
  if (e.key.length === 1 && e.key !== " " && buf.length < 8192) {
    buf += e.key;
    e.preventDefault();
    e.stopPropagation();
  }
}, true);

function focusHome() {
  if (!document.querySelector("dialog[open]")) $("home").focus({ preventScroll: true });
}

// ---- camera: frames go to the gate, which decodes them (docs/staff-app.md)

let stream = null;
let busy = false;
const canvas = document.createElement("canvas");

async function toggleCamera() {
  if (stream) {
    stream.getTracks().forEach((tr) => tr.stop());
    stream = null;
    $("video").hidden = true;
    applyLang();
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1280 } }, audio: false });
  } catch (e) {
    $("notice").textContent = t("cameraFail", { err: e.message });
    return;
  }
  const v = $("video");
  v.srcObject = stream;
  v.hidden = false;
  await v.play();
  applyLang();
  grab();
}

async function grab() {
  if (!stream) return;
  const v = $("video");
  if (!busy && v.videoWidth > 0) {
    busy = true;
    const scale = Math.min(1, 960 / v.videoWidth);
    canvas.width = Math.round(v.videoWidth * scale);
    canvas.height = Math.round(v.videoHeight * scale);
    canvas.getContext("2d").drawImage(v, 0, 0, canvas.width, canvas.height);
    const started = performance.now();
    const blob = await new Promise((res) => canvas.toBlob(res, "image/jpeg", 0.92));
    try {
      const a = await api("/api/frame" + (exitMode ? "?exit=1" : ""), blob, "image/jpeg");
      if (a.found) show(a.verdict, started);
    } catch (e) {
      $("notice").textContent = e.message;
    }
    busy = false;
  }
  setTimeout(grab, 150);
}

// ---- PIN, find, manual admission

function needUnlock() {
  return state && state.pin && !token;
}

function askPIN() {
  return new Promise((resolve) => {
    const d = $("pindlg");
    $("pin").value = "";
    $("pinerr").textContent = "";
    d.showModal();
    $("pin").focus();
    const form = $("pinform");
    form.onsubmit = async (e) => {
      e.preventDefault();
      try {
        token = (await api("/api/unlock", { pin: $("pin").value })).token;
        d.close();
        renderState();
        resolve(true);
      } catch (err) {
        $("pinerr").textContent = err.status === 429 ? t("pinWait", { n: err.message.replace(/\D/g, "") }) : t("pinWrong");
        $("pin").value = "";
      }
    };
    d.querySelector(".close").onclick = () => { d.close(); resolve(false); };
    d.onclose = () => { focusHome(); resolve(!!token); };
  });
}

async function locked(fn) {
  if (needUnlock() && !(await askPIN())) return;
  try {
    await fn();
  } catch (e) {
    if (e.status === 401) {
      token = "";
      if (await askPIN()) return fn();
    }
    $($("undodlg").open ? "undoerr" : "finderr").textContent = e.message;
  }
}

let picked = null;

function openFind() {
  locked(async () => {
    $("results").textContent = "";
    $("ticket").hidden = true;
    $("finderr").textContent = "";
    $("q").value = "";
    const d = $("finddlg");
    d.showModal();
    $("q").focus();
  });
}

// holderOf is the holder's name with its reading, when the roster gave one.
function holderOf(m) {
  return m.reading ? `${m.holder} (${m.reading})` : m.holder;
}

function matchLine(m) {
  let st = m.revoked ? t("revoked") : m.entries > 0 ? t("used", { n: m.entries, t: hhmm(m.last) }) : t("unused");
  return `${holderOf(m)} · ${m.tier_name} · ${m.order_ref} · ${t("serial", { s: m.serial })} · ${st}`;
}

$("findform").addEventListener("submit", (e) => {
  e.preventDefault();
  locked(async () => {
    const ms = await api("/api/find?q=" + encodeURIComponent($("q").value));
    const ul = $("results");
    ul.textContent = "";
    $("ticket").hidden = true;
    if (ms.length === 0) {
      const li = document.createElement("li");
      li.textContent = t("noMatch");
      ul.append(li);
    }
    for (const m of ms) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = matchLine(m);
      b.dataset.serial = m.serial;
      b.onclick = () => pick(m);
      li.append(b);
      ul.append(li);
    }
  });
});

function pick(m) {
  locked(async () => {
    picked = m;
    const hs = await api("/api/history?serial=" + m.serial);
    $("tholder").textContent = holderOf(m);
    $("tinfo").textContent = `${m.tier_name} · ${m.order_ref} · ${t("serial", { s: m.serial })}`;
    const ol = $("thistory");
    ol.textContent = "";
    if (hs.length === 0) {
      const li = document.createElement("li");
      li.textContent = t("noHistory");
      ol.append(li);
    }
    for (const h of hs) {
      const li = document.createElement("li");
      const kind = { entry: "kEntry", exit: "kExit", manual: "kManual", undo: "kUndo" }[h.kind] || "kEntry";
      li.textContent = `${hhmm(h.at)} · ${h.gate_name}${h.here ? " " + t("here") : ""} · ${t(kind)}${h.undone ? " " + t("undoneMark") : ""}`;
      ol.append(li);
    }
    $("reason").value = "";
    $("admitbtn").hidden = !(state && state.manual);
    $("ticket").hidden = false;
    $("reason").focus();
  });
}

$("admitform").addEventListener("submit", (e) => {
  e.preventDefault();
  const reason = $("reason").value.trim();
  if (!reason) {
    $("finderr").textContent = t("reasonNeeded");
    return;
  }
  locked(async () => {
    const v = await api("/api/admit", { serial: picked.serial, reason });
    $("finddlg").close();
    show(v);
  });
});

// ---- undo of this gate's last admission (docs/staff-app.md)

let undoInfo = null;    // the last GET /api/undo
let undoUntil = 0;      // performance.now() when the time to undo runs out
let undoTimer = 0;

function renderUndo() {
  const u = undoInfo;
  if (!u) return;
  $("undolast").textContent = u.kind
    ? t("undoLast", { holder: u.holder || t("serial", { s: u.serial }), tier: u.tier_name || "", time: hhmm(u.at) })
    : "";
  const left = Math.max(0, Math.ceil((undoUntil - performance.now()) / 1000));
  const ok = u.available && left > 0;
  $("undoleft").textContent = ok ? t("undoLeft", { n: left }) : "";
  $("undoerr").textContent = ok ? "" : t("undo_" + (u.available ? "late" : u.why));
  $("undoconfirm").disabled = !ok;
  $("undodlg").dataset.available = String(ok);
}

function openUndo() {
  locked(async () => {
    undoInfo = await api("/api/undo");
    undoUntil = performance.now() + undoInfo.seconds_left * 1000;
    renderUndo();
    clearInterval(undoTimer);
    undoTimer = setInterval(renderUndo, 1000);
    const d = $("undodlg");
    d.showModal();
    (undoInfo.available ? $("undoconfirm") : d.querySelector(".close")).focus();
  });
}

$("undoconfirm").onclick = () => {
  locked(async () => {
    try {
      const v = await api("/api/undo", {});
      $("undodlg").close();
      show(v);
    } catch (e) {
      if (e.status !== 409) throw e;
      undoInfo = { ...undoInfo, available: false, why: e.why };
      renderUndo();
    }
  });
};

// ---- wiring

$("finddlg").querySelector(".close").onclick = () => $("finddlg").close();
$("finddlg").addEventListener("close", focusHome);
$("undodlg").querySelector(".close").onclick = () => $("undodlg").close();
$("undodlg").addEventListener("close", () => { clearInterval(undoTimer); focusHome(); });
$("undobtn").onclick = openUndo;
$("findbtn").onclick = openFind;
$("camera").onclick = toggleCamera;
$("lang").onclick = () => { lang = lang === "ja" ? "en" : "ja"; localStorage.setItem("kido-lang", lang); applyLang(); focusHome(); };
$("lockbtn").onclick = async () => { await api("/api/lock", {}).catch(() => {}); token = ""; renderState(); focusHome(); };
$("entry").onclick = () => { exitMode = false; renderState(); focusHome(); };
$("exit").onclick = () => { exitMode = true; renderState(); focusHome(); };
$("verdict").onclick = clearVerdict;
window.addEventListener("focus", focusHome);
document.addEventListener("click", () => { startAudio(); setTimeout(focusHome, 0); });

applyLang();
poll();
setInterval(poll, 1000);
focusHome();
