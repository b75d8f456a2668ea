/* The login session in the browser (dashboards/auth.py says the server's side).
 *
 * - Logging out: from the moment the logout form is sent, the page asks the server for
 *   nothing more (its timers would otherwise race the logout and be refused).
 * - A session that ended (expired, the user disabled, the server restarted with a new
 *   secret): the server answers a callback with 401, and the page goes to the login form,
 *   which brings the user back here afterwards. */
(function () {
  "use strict";
  let leaving = false;
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form && form.classList && form.classList.contains("logout")) {
      leaving = true;
    }
  }, true);
  const send = window.fetch.bind(window);
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || "";
    const dash = url.indexOf("/_dash-") !== -1;
    if (leaving && dash) {
      return new Promise(function () {});  // the page is going away: never answered
    }
    return send(input, init).then(function (response) {
      if (dash && response.status === 401) {
        if (!leaving) {
          leaving = true;
          const here = window.location.pathname + window.location.search;
          window.location.assign("/login?next=" + encodeURIComponent(here));
        }
        return new Promise(function () {});  // the page is going to the login form
      }
      return response;
    });
  };
})();
