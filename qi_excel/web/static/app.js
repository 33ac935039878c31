// qi-excel ui: the drop zone and the roster's "添加一行". Plain JavaScript, no library, no network beyond this server.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function renderVerdict(v) {
    var box = el("div", "verdict " + v.status);
    var head = el("div", "vhead");
    head.appendChild(el("span", "pill " + v.status, v.status_label));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(el("strong", "", v.name));
    head.appendChild(document.createTextNode(" " + (v.expert || "")));
    box.appendChild(head);
    if (v.findings.length) {
      var table = el("table", "grid findings");
      var thead = el("thead");
      var hr = el("tr");
      ["级别", "工作表", "单元格", "问题"].forEach(function (t) { hr.appendChild(el("th", "", t)); });
      thead.appendChild(hr);
      table.appendChild(thead);
      var body = el("tbody");
      v.findings.forEach(function (f) {
        var tr = el("tr", f.severity);
        [f.level, f.sheet, f.cell, f.message].forEach(function (t) { tr.appendChild(el("td", "", t)); });
        body.appendChild(tr);
      });
      table.appendChild(body);
      box.appendChild(table);
    }
    return box;
  }

  function upload(form, files) {
    var zone = document.getElementById("dropzone");
    var out = document.getElementById("verdicts");
    if (!files || !files.length) { return; }
    var data = new FormData();
    data.append("csrf_token", csrf);
    for (var i = 0; i < files.length; i++) { data.append("files", files[i], files[i].name); }
    zone.classList.add("busy");
    out.textContent = "";
    out.appendChild(el("div", "msg msg-info", "正在检查 " + files.length + " 个文件……"));
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin",
                         headers: { "Accept": "application/json", "X-Requested-With": "fetch", "X-CSRF-Token": csrf } })
      .then(function (r) { return r.json().catch(function () { return { error: "服务器返回了无法识别的内容（" + r.status + "）。" }; }); })
      .then(function (answer) {
        out.textContent = "";
        if (answer.error) { out.appendChild(el("div", "msg msg-error", answer.error)); return; }
        var counts = { accepted: 0, rejected: 0, superseded: 0 };
        answer.verdicts.forEach(function (v) { counts[v.status] = (counts[v.status] || 0) + 1; });
        out.appendChild(el("div", counts.rejected ? "msg msg-warn" : "msg msg-ok",
          "共 " + answer.verdicts.length + " 个文件：接收 " + counts.accepted + " 个，拒收 " + counts.rejected +
          " 个，被替代 " + counts.superseded + " 个。"));
        answer.verdicts.forEach(function (v) { out.appendChild(renderVerdict(v)); });
        var status = document.getElementById("status-body");
        if (status && answer.status_html) { status.innerHTML = answer.status_html; }
        var stage = document.getElementById("stage");
        if (stage && answer.stage) { stage.textContent = answer.stage; stage.className = "stage " + answer.stage_class; }
        var steps = document.getElementById("steps-body");
        if (steps && answer.steps_html) { steps.innerHTML = answer.steps_html; }
      })
      .catch(function () {
        out.textContent = "";
        out.appendChild(el("div", "msg msg-error", "上传失败：无法连接本机的 qi-excel（启动窗口是否已关闭？）。"));
      })
      .then(function () { zone.classList.remove("busy"); form.reset(); });
  }

  var form = document.getElementById("upload-form");
  if (form) {
    var zone = document.getElementById("dropzone");
    var input = document.getElementById("file-input");
    input.addEventListener("change", function () { upload(form, input.files); });
    ["dragenter", "dragover"].forEach(function (t) {
      zone.addEventListener(t, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (t) {
      zone.addEventListener(t, function (ev) { ev.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (ev) { upload(form, ev.dataTransfer.files); });
  }

  var add = document.getElementById("add-row");
  if (add) {
    add.addEventListener("click", function () {
      var body = document.querySelector("#roster tbody");
      var last = body.rows[body.rows.length - 1];
      var row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      var number = row.querySelector('input[name="expert_number"]');
      if (number) { number.value = String(body.rows.length + 1); }
      var role = row.querySelector("select");
      if (role) { role.value = "成员"; }
      body.appendChild(row);
    });
  }

  // a chosen file's name on its button (the browser's own "no file chosen" text is hidden)
  document.querySelectorAll("label.file input[type=file]").forEach(function (input) {
    input.addEventListener("change", function () {
      var span = input.parentNode.querySelector(".chosen");
      if (span && input.files.length) { span.textContent = "已选择：" + input.files[0].name; }
    });
  });

  // a button pressed once: show that the page is working (issue and consolidate take a moment)
  document.querySelectorAll("form[method=post]").forEach(function (f) {
    if (f.id === "upload-form") { return; }
    f.addEventListener("submit", function () {
      var b = f.querySelector("button[type=submit]");
      if (b) { setTimeout(function () { b.disabled = true; }, 0); }
    });
  });
})();
