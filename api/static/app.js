// gongai pages: progressive enhancement only; every page works with plain form posts.
// Kept in an external file (no inline script) so a strict Content-Security-Policy can forbid inline code.
document.addEventListener("DOMContentLoaded", function () {
  // move focus to the first field flagged invalid, so keyboard and screen-reader users land on the message
  var bad = document.querySelector("[aria-invalid='true']");
  if (bad && typeof bad.focus === "function") { bad.focus(); }
  // ask before irreversible decisions (不予许可, 吊销令牌)
  document.querySelectorAll("button.danger").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm("确认执行“" + button.textContent.trim() + "”？此操作不可撤回。")) { event.preventDefault(); }
    });
  });
});
