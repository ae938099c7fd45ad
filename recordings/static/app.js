/*
 * The replica's page script: draws every X screen client-side from JSON, as x.com does.
 *
 * The server sends an empty shell with a <script id="boot"> JSON block (which screen, which language,
 * which links). This script fetches the string table and the screen's data, waits a little (X's
 * pages settle 150-400 ms after load), and only then draws. Plain JS, no build step.
 */
(function () {
  "use strict";

  const boot = JSON.parse(document.getElementById("boot").textContent);
  const root = document.getElementById("react-root");
  let S = {};

  // ---------------------------------------------------------------- small helpers
  function t(key, vars) {
    const text = Object.prototype.hasOwnProperty.call(S, key) ? S[key] : key;
    return text.replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? String(vars[k]) : ""));
  }

  /** h("div", {class: "x", onclick: fn}, child, ...) -> Element; null/false children are skipped. */
  function h(tag, attrs, ...children) {
    const svg = tag === "svg" || tag === "path" || tag === "circle";
    const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
      else if (k === "value") el.value = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const ICONS = {
    logo: "M18.244 2.25h3.308l-7.227 8.26 8.502 11.24H16.17l-5.214-6.817L4.99 21.75H1.68l7.73-8.835L1.254 2.25H8.08l4.713 6.231zm-1.161 17.52h1.833L7.084 4.126H5.117z",
    home: "M12 1.696L.622 8.807l1.06 1.696L3 9.679V19.5C3 20.881 4.119 22 5.5 22h13c1.381 0 2.5-1.119 2.5-2.5V9.679l1.318.824 1.06-1.696L12 1.696zM12 16.5c-1.933 0-3.5-1.567-3.5-3.5s1.567-3.5 3.5-3.5 3.5 1.567 3.5 3.5-1.567 3.5-3.5 3.5z",
    search: "M10.25 3.75c-3.59 0-6.5 2.91-6.5 6.5s2.91 6.5 6.5 6.5c1.795 0 3.419-.726 4.596-1.904 1.178-1.177 1.904-2.801 1.904-4.596 0-3.59-2.91-6.5-6.5-6.5zm-8.5 6.5c0-4.694 3.806-8.5 8.5-8.5s8.5 3.806 8.5 8.5c0 1.986-.682 3.815-1.824 5.262l4.781 4.781-1.414 1.414-4.781-4.781c-1.447 1.142-3.276 1.824-5.262 1.824-4.694 0-8.5-3.806-8.5-8.5z",
    bell: "M19.993 9.042C19.48 5.017 16.054 2 11.996 2s-7.49 3.021-7.999 7.051L2.866 18H7.1c.463 2.282 2.481 4 4.9 4s4.437-1.718 4.9-4h4.236l-1.143-8.958zM12 20c-1.306 0-2.417-.835-2.829-2h5.658c-.412 1.165-1.523 2-2.829 2zm-6.866-4l.847-6.698C6.364 6.272 8.941 4 11.996 4s5.627 2.268 6.013 5.295L18.864 16H5.134z",
    mail: "M1.998 5.5c0-1.381 1.119-2.5 2.5-2.5h15c1.381 0 2.5 1.119 2.5 2.5v13c0 1.381-1.119 2.5-2.5 2.5h-15c-1.381 0-2.5-1.119-2.5-2.5v-13zm2.5-.5c-.276 0-.5.224-.5.5v2.764l8 3.638 8-3.636V5.5c0-.276-.224-.5-.5-.5h-15zm15.5 5.463l-8 3.636-8-3.638V18.5c0 .276.224.5.5.5h15c.276 0 .5-.224.5-.5v-8.037z",
    person: "M5.651 19h12.698c-.337-1.8-1.023-3.21-1.945-4.19C15.318 13.65 13.838 13 12 13s-3.317.65-4.404 1.81c-.922.98-1.608 2.39-1.945 4.19zm.486-5.56C7.627 11.85 9.648 11 12 11s4.373.85 5.863 2.44c1.477 1.58 2.366 3.8 2.632 6.46l.11 1.1H3.395l.11-1.1c.266-2.66 1.155-4.88 2.632-6.46zM12 4c-1.105 0-2 .9-2 2s.895 2 2 2 2-.9 2-2-.895-2-2-2zM8 6c0-2.21 1.791-4 4-4s4 1.79 4 4-1.791 4-4 4-4-1.79-4-4z",
    more: "M3.75 12c0-4.56 3.69-8.25 8.25-8.25s8.25 3.69 8.25 8.25-3.69 8.25-8.25 8.25S3.75 16.56 3.75 12zM12 1.75C6.34 1.75 1.75 6.34 1.75 12S6.34 22.25 12 22.25 22.25 17.66 22.25 12 17.66 1.75 12 1.75zm-4.75 11.5c.69 0 1.25-.56 1.25-1.25s-.56-1.25-1.25-1.25S6 11.31 6 12s.56 1.25 1.25 1.25zm9.5 0c.69 0 1.25-.56 1.25-1.25s-.56-1.25-1.25-1.25-1.25.56-1.25 1.25.56 1.25 1.25 1.25zM13.25 12c0 .69-.56 1.25-1.25 1.25s-1.25-.56-1.25-1.25.56-1.25 1.25-1.25 1.25.56 1.25 1.25z",
    back: "M7.414 13l5.043 5.04-1.414 1.42L3.586 12l7.457-7.46 1.414 1.42L7.414 11H21v2H7.414z",
    chevron: "M14.586 12L7.543 4.96l1.414-1.42L17.414 12l-8.457 8.46-1.414-1.42L14.586 12z",
    close: "M10.59 12L4.54 5.96l1.42-1.42L12 10.59l6.04-6.05 1.42 1.42L13.41 12l6.05 6.04-1.42 1.42L12 13.41l-6.04 6.05-1.42-1.42L10.59 12z",
    gear: "M10.54 1.75h2.92l1.57 2.36c.11.17.32.25.53.21l2.53-.59 2.17 2.17-.58 2.54c-.05.2.04.41.21.53l2.36 1.57v2.92l-2.36 1.57c-.17.12-.26.33-.21.53l.58 2.54-2.17 2.17-2.53-.59c-.21-.04-.42.04-.53.21l-1.57 2.36h-2.92l-1.58-2.36c-.11-.17-.32-.25-.52-.21l-2.54.59-2.17-2.17.58-2.54c.05-.2-.03-.41-.21-.53l-2.35-1.57v-2.92L4.1 8.97c.18-.12.26-.33.21-.53L3.73 5.9 5.9 3.73l2.54.59c.2.04.41-.04.52-.21l1.58-2.36zm1.07 2l-.98 1.47C10.05 6.08 9 6.5 7.99 6.27l-1.46-.34-.6.6.33 1.46c.24 1.01-.18 2.07-1.05 2.64l-1.46.98v.78l1.46.98c.87.57 1.29 1.63 1.05 2.64l-.33 1.46.6.6 1.46-.34c1.01-.23 2.06.19 2.64 1.05l.98 1.47h.78l.97-1.47c.58-.86 1.63-1.28 2.65-1.05l1.45.34.61-.6-.34-1.46c-.23-1.01.18-2.07 1.05-2.64l1.47-.98v-.78l-1.47-.98c-.87-.57-1.28-1.63-1.05-2.64l.34-1.46-.61-.6-1.45.34c-1.02.23-2.07-.19-2.65-1.05l-.97-1.47h-.78zM12 10.5c-.83 0-1.5.67-1.5 1.5s.67 1.5 1.5 1.5c.82 0 1.5-.67 1.5-1.5s-.68-1.5-1.5-1.5zM8.5 12c0-1.93 1.56-3.5 3.5-3.5 1.93 0 3.5 1.57 3.5 3.5s-1.57 3.5-3.5 3.5c-1.94 0-3.5-1.57-3.5-3.5z",
    list: "M3.5 6.5h17v2h-17zm0 4.5h17v2h-17zm0 4.5h11v2h-11z",
    bookmark: "M4 4.5C4 3.12 5.119 2 6.5 2h11C18.881 2 20 3.12 20 4.5v18.44l-8-5.71-8 5.71V4.5zM6.5 4c-.276 0-.5.22-.5.5v14.56l6-4.29 6 4.29V4.5c0-.28-.224-.5-.5-.5h-11z",
  };

  function icon(name, size) {
    const s = size || 26;
    return h("svg", {viewBox: "0 0 24 24", width: s, height: s, "aria-hidden": "true", class: "icon"},
      h("path", {d: ICONS[name]}));
  }

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }

  function setCookie(name, value, days) {
    document.cookie = `${name}=${value}; path=/; max-age=${days * 86400}; samesite=lax`;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** fetch with X's habits: cookies, the CSRF header on writes; never throws on HTTP errors. */
  async function call(method, path, body, form) {
    const headers = {};
    if (method !== "GET") headers["x-csrf-token"] = cookie("ct0") || "";
    let payload;
    if (body !== undefined) {
      headers["content-type"] = form ? "application/x-www-form-urlencoded" : "application/json";
      payload = form ? new URLSearchParams(body).toString() : JSON.stringify(body);
    }
    try {
      const res = await fetch(path, {method, headers, body: payload, credentials: "same-origin"});
      let data = null;
      try { data = await res.json(); } catch (e) { data = null; }
      const failed = !res.ok || (data && Array.isArray(data.errors) && data.errors.length > 0);
      return {status: res.status, ok: !failed, data: data || {}};
    } catch (e) {
      return {status: 0, ok: false, data: {}};
    }
  }

  async function loadStrings(lang) {
    const res = await fetch(`/i18n/${lang}.json`, {credentials: "same-origin"});
    S = await res.json();
    document.documentElement.lang = lang;
    boot.lang = lang;
  }

  function loginUrl() {
    return "/i/flow/login?redirect_after_login=" + encodeURIComponent(location.pathname + location.search);
  }

  function afterLoginTarget() {
    const target = new URLSearchParams(location.search).get("redirect_after_login");
    return target && target.startsWith("/") && !target.startsWith("//") ? target : "/home";
  }

  // ---------------------------------------------------------------- toasts, banner, dialogs
  function toast(text) {
    let layer = document.querySelector('[data-testid="toast"]');
    if (!layer) {
      layer = h("div", {"data-testid": "toast", class: "toast-layer", "aria-live": "polite"});
      document.body.append(layer);
    }
    const item = h("div", {role: "alert", class: "toast"}, h("span", {}, text));
    layer.append(item);
    setTimeout(() => item.remove(), 6000);
  }

  function cookieBanner() {
    if (!boot.viewer_flags || !boot.viewer_flags.cookie_banner || cookie("d_prefs")) return null;
    const bar = h("div", {"data-testid": "BottomBar", class: "bottom-bar", role: "region", "aria-label": t("banner.title")},
      h("div", {class: "bottom-bar-inner"},
        h("div", {class: "bottom-bar-text"},
          h("h2", {}, t("banner.title")),
          h("p", {}, t("banner.body"))),
        h("div", {class: "bottom-bar-buttons"},
          h("button", {type: "button", role: "button", class: "pill pill-light", onclick: () => dismiss("1")}, t("banner.accept")),
          h("button", {type: "button", role: "button", class: "pill pill-outline", onclick: () => dismiss("0")}, t("banner.refuse")))));
    function dismiss(v) {
      setCookie("d_prefs", v === "1" ? "MToxLGNvbnNlbnRfdmVyc2lvbjoy" : "MjoxLGNvbnNlbnRfdmVyc2lvbjoy", 400);
      bar.remove();
    }
    return bar;
  }

  function welcomeDialog() {
    if (!boot.viewer_flags || !boot.viewer_flags.welcome_dialog || cookie("welcome_seen")) return null;
    const layer = h("div", {class: "modal-mask"},
      h("div", {role: "dialog", "aria-modal": "true", "aria-labelledby": "welcome-title", class: "modal modal-small"},
        h("div", {class: "modal-bar"},
          h("button", {type: "button", role: "button", "data-testid": "app-bar-close", "aria-label": t("welcome.close"),
                       class: "icon-btn", onclick: () => { setCookie("welcome_seen", "1", 400); layer.remove(); }}, icon("close", 20))),
        h("div", {class: "modal-body welcome"},
          icon("logo", 40),
          h("h1", {id: "welcome-title"}, t("welcome.title")),
          h("p", {}, t("welcome.body")),
          h("p", {}, h("a", {href: "/en/privacy"}, t("welcome.more"))))));
    return layer;
  }

  /**
   * A sheet X lays over every page until it is answered (sheet faults): a terms update with one button,
   * an announcement closed by its icon button or Escape, a consent prompt offering two choices. The
   * answer is posted (replica-only endpoint) so the server stops showing it and a test can see it.
   */
  function sheetLayer() {
    const kind = boot.viewer_flags && boot.viewer_flags.sheet;
    if (!kind) return null;
    let layer = null;
    const answer = async (value) => {
      if (!layer || !layer.isConnected) return;
      layer.remove();
      await call("POST", "/1.1/account/notices.json", {notice: kind, answer: value}, true);
    };
    const body = {
      terms_sheet: [h("h2", {id: "sheet-title"}, t("sheet.terms_title")), h("p", {}, t("sheet.terms_body")),
        h("p", {}, h("a", {href: "/en/tos", target: "_blank"}, t("sheet.terms_link"))),
        h("button", {type: "button", role: "button", class: "pill pill-dark", onclick: () => answer("ok")}, t("sheet.terms_ok"))],
      announcement_sheet: [
        h("div", {class: "modal-bar"}, h("button", {type: "button", "aria-label": t("sheet.close"), class: "icon-btn", onclick: () => answer("closed")}, icon("close", 20))),
        h("h2", {id: "sheet-title"}, t("sheet.announce_title")), h("p", {}, t("sheet.announce_body")),
        h("p", {}, h("a", {href: "https://x.ai", target: "_blank"}, t("sheet.announce_link")))],
      consent_sheet: [h("h2", {id: "sheet-title"}, t("sheet.consent_title")), h("p", {}, t("sheet.consent_body")),
        h("button", {type: "button", role: "button", class: "pill pill-dark", onclick: () => answer("accept")}, t("sheet.consent_accept")),
        h("button", {type: "button", role: "button", class: "pill pill-outline", onclick: () => answer("manage")}, t("sheet.consent_manage"))],
    }[kind];
    if (kind === "announcement_sheet") {
      document.addEventListener("keydown", (e) => { if (e.key === "Escape") answer("closed"); });
    }
    layer = h("div", {class: "modal-mask"},
      h("div", {role: "dialog", "aria-modal": "true", "aria-labelledby": "sheet-title", class: "modal modal-small sheet"}, body));
    return layer;
  }

  // ---------------------------------------------------------------- logged-in frame
  function sideNav(viewer) {
    const link = (href, testid, ic, label) =>
      h("a", {href, "data-testid": testid, role: "link", "aria-label": label, class: "nav-item" + (location.pathname === href ? " active" : "")},
        icon(ic), h("span", {class: "nav-label"}, label));
    const more = h("button", {type: "button", role: "button", "data-testid": "AppTabBar_More_Menu", "aria-label": t("nav.more"),
                              "aria-haspopup": "menu", "aria-expanded": "false", class: "nav-item"},
      icon("more"), h("span", {class: "nav-label"}, t("nav.more")));
    more.addEventListener("click", (ev) => { ev.stopPropagation(); toggleMoreMenu(more); });
    return h("header", {role: "banner", class: "sidenav"},
      h("div", {class: "sidenav-inner"},
        h("div", {class: "sidenav-top"},
          h("a", {href: "/home", "aria-label": "X", class: "nav-logo"}, icon("logo", 30)),
          h("nav", {"aria-label": t("nav.label"), role: "navigation", class: "nav"},
            link("/home", "AppTabBar_Home_Link", "home", t("nav.home")),
            link("/explore", "AppTabBar_Explore_Link", "search", t("nav.explore")),
            link("/notifications", "AppTabBar_Notifications_Link", "bell", t("nav.notifications")),
            link("/messages", "AppTabBar_DirectMessage_Link", "mail", t("nav.messages")),
            link("/" + viewer.screen_name, "AppTabBar_Profile_Link", "person", t("nav.profile")),
            more),
          h("a", {href: "/compose/post", "data-testid": "SideNav_NewTweet_Button", role: "link", class: "post-btn", "aria-label": t("nav.post")},
            h("span", {class: "nav-label"}, t("nav.post")), h("span", {class: "post-btn-small"}, "+"))),
        h("button", {type: "button", role: "button", "data-testid": "SideNav_AccountSwitcher_Button", "aria-label": t("nav.account_menu"), class: "account-switcher"},
          avatar(viewer.screen_name, 40),
          h("span", {class: "account-names"},
            h("span", {class: "account-name"}, viewer.name),
            h("span", {class: "account-handle"}, "@" + viewer.screen_name)),
          h("span", {class: "account-dots"}, "···"))));
  }

  function toggleMoreMenu(button) {
    const open = document.querySelector('[role="menu"]');
    if (open) { open.remove(); button.setAttribute("aria-expanded", "false"); return; }
    const item = (href, ic, label, testid) =>
      h("a", {href, role: "menuitem", "data-testid": testid || null, class: "menu-item"}, icon(ic, 22), h("span", {}, label));
    const r = button.getBoundingClientRect();
    const menu = h("div", {role: "menu", class: "dropdown", style: {left: r.left + "px", visibility: "hidden"}},
      item("/i/lists", "list", t("more.lists")),
      item("/i/bookmarks", "bookmark", t("more.bookmarks")),
      item("/i/communities", "person", t("more.communities")),
      item("/i/premium", "logo", t("more.premium")),
      item("/i/monetization", "list", t("more.monetization")),
      item("/i/ads", "list", t("more.ads")),
      item("/jobs", "list", t("more.jobs")),
      item("/i/spaces/start", "mail", t("more.spaces")),
      h("div", {class: "menu-sep", role: "separator"}),
      item("/settings", "gear", t("more.settings"), "settings"));
    document.body.append(menu);
    // Like X, the menu opens over its button and stays inside the window.
    const top = Math.min(r.top - menu.offsetHeight / 2, window.innerHeight - menu.offsetHeight - 8);
    menu.style.top = Math.max(8, top) + "px";
    menu.style.visibility = "visible";
    button.setAttribute("aria-expanded", "true");
    const close = (ev) => {
      if (menu.contains(ev.target)) return;
      menu.remove();
      button.setAttribute("aria-expanded", "false");
      document.removeEventListener("click", close);
    };
    document.addEventListener("click", close);
  }

  function avatar(name, size) {
    const hue = [...name].reduce((a, c) => a + c.charCodeAt(0), 0) % 360;
    return h("span", {class: "avatar", style: {width: size + "px", height: size + "px", background: `hsl(${hue} 55% 55%)`}},
      name.slice(0, 1).toUpperCase());
  }

  /** The logged-in frame: left nav, the page's columns, then banner/dialog on top. */
  function frame(viewer, columns) {
    root.replaceChildren(
      h("div", {class: "app"}, sideNav(viewer), h("main", {role: "main", class: "main"}, columns)),
      cookieBanner(), welcomeDialog(), sheetLayer());
  }

  function sidebar() {
    return h("div", {"data-testid": "sidebarColumn", class: "sidebar"},
      h("div", {class: "searchbox"}, icon("search", 18), h("input", {type: "text", placeholder: t("home.search"), "aria-label": t("home.search"), "data-testid": "SearchBox_Search_Input"})),
      h("div", {class: "card"},
        h("h2", {}, t("home.trends")),
        trend(t("home.trend1"), "#OpenSource", 48200),
        trend(t("home.trend2"), "#Matchday", 21900),
        trend(t("home.trend1"), "Chromium", 9340)),
      h("div", {class: "card"},
        h("h2", {}, t("home.follow_title")),
        ["nasa", "wikipedia", "xdevelopers"].map((n) =>
          h("div", {class: "follow-row"}, avatar(n, 40),
            h("div", {class: "follow-names"}, h("b", {}, n), h("span", {class: "muted"}, "@" + n)),
            h("button", {type: "button", role: "button", class: "pill pill-dark small"}, t("home.follow"))))));
  }

  function trend(context, name, n) {
    return h("div", {class: "trend"}, h("span", {class: "muted small"}, context), h("b", {}, name),
      h("span", {class: "muted small"}, t("home.posts_count", {n: n.toLocaleString(boot.lang)})));
  }

  function post(name, text, minutes) {
    return h("article", {"data-testid": "tweet", role: "article", class: "post"},
      avatar(name, 40),
      h("div", {class: "post-body"},
        h("div", {}, h("b", {}, name), " ", h("span", {class: "muted"}, `@${name.toLowerCase()} · ${minutes}m`)),
        h("div", {"data-testid": "tweetText", class: "post-text"}, text)));
  }

  function primary(...children) {
    return h("div", {"data-testid": "primaryColumn", class: "primary"}, children);
  }

  function columnHeader(title, backHref) {
    return h("div", {class: "column-header"},
      backHref ? h("a", {href: backHref, "aria-label": t("settings.back"), "data-testid": "app-bar-back", class: "icon-btn"}, icon("back", 20)) : null,
      h("h2", {}, title));
  }

  // ---------------------------------------------------------------- logged-in pages
  async function viewerOrLogin() {
    const res = await call("GET", "/1.1/account/verify_credentials.json");
    if (res.status === 401) { location.assign(loginUrl()); return null; }
    return res.ok ? res.data : {screen_name: "", name: ""};
  }

  const PAGES = {};

  PAGES.home = async () => {
    const viewer = await viewerOrLogin();
    if (!viewer) return null;
    return () => {
      document.title = t("title.home");
      frame(viewer, [
        primary(
          h("div", {class: "column-header sticky tabs", role: "tablist"},
            h("a", {role: "tab", "aria-selected": "true", href: "/home", class: "tab active"}, h("span", {}, t("home.for_you"))),
            h("a", {role: "tab", "aria-selected": "false", href: "/home", class: "tab"}, h("span", {}, t("home.following")))),
          h("div", {class: "compose"}, avatar(viewer.screen_name, 40),
            h("div", {class: "compose-box"},
              h("div", {class: "compose-input", role: "textbox", "aria-label": t("home.compose"), "data-testid": "tweetTextarea_0"}, t("home.compose")),
              h("div", {class: "compose-actions"}, h("button", {type: "button", role: "button", class: "pill pill-blue small", disabled: true, "data-testid": "tweetButtonInline"}, t("nav.post"))))),
          post("XDevelopers", t("home.post1"), 12),
          post("CityLibrary", t("home.post2"), 34),
          post("PrivacyMatters", t("home.post3"), 57)),
        sidebar()]);
    };
  };

  function simplePage(titleKey) {
    return async () => {
      const viewer = await viewerOrLogin();
      if (!viewer) return null;
      return () => {
        document.title = `${t(titleKey)} / X`;
        frame(viewer, [primary(columnHeader(t(titleKey)), h("div", {class: "empty"}, h("p", {}, t("page.nothing")))), sidebar()]);
      };
    };
  }
  PAGES.explore = simplePage("page.explore");
  PAGES.notifications = simplePage("page.notifications");
  PAGES.messages = simplePage("page.messages");

  PAGES.profile = async () => {
    const viewer = await viewerOrLogin();
    if (!viewer) return null;
    const name = boot.screen_name;
    return () => {
      document.title = `${name} (@${name}) / X`;
      frame(viewer, [primary(
        columnHeader(name, "/home"),
        h("div", {class: "profile-banner"}),
        h("div", {class: "profile-head"}, avatar(name, 120), h("h2", {}, name), h("span", {class: "muted"}, "@" + name),
          h("p", {class: "muted"}, t("profile.joined"))),
        h("div", {class: "tabs", role: "tablist"}, h("a", {role: "tab", "aria-selected": "true", class: "tab active", href: "/" + name}, h("span", {}, t("profile.posts")))),
        post(name, t("home.post1"), 5)), sidebar()]);
    };
  };

  function notFoundPane() {
    return h("div", {class: "pane-message", "data-testid": "error-detail"},
      h("span", {}, t("notfound.title")),
      h("a", {href: "/explore", role: "link", class: "pill pill-blue"}, t("notfound.search")));
  }

  PAGES.not_found = async () => {
    const viewer = boot.logged_in ? await viewerOrLogin() : null;
    return () => {
      document.title = t("title.not_found");
      if (viewer) frame(viewer, [primary(notFoundPane()), sidebar()]);
      else root.replaceChildren(h("div", {class: "guest-404"}, h("a", {href: "/", "aria-label": "X"}, icon("logo", 40)), notFoundPane()));
    };
  };

  // ---------------------------------------------------------------- settings
  const SECTIONS = ["account", "monetization", "premium", "creator_subscriptions", "security_and_account_access",
                    "privacy_and_safety", "notifications", "accessibility_display_and_languages", "about"];
  const DATA_PAGES = ["ads_preferences", "off_twitter_activity", "data_sharing_with_business_partners", "location_information", "grok_settings"];

  /** The checkbox pages: title, intro, and blocks of (optional heading, checkbox field, label, help). */
  function settingPage(section) {
    const single = boot.viewer_flags && boot.viewer_flags.single_inferred_box;
    const pages = {
      data_sharing_with_business_partners: {title: "partners.title", intro: "partners.intro", blocks: [
        {field: "allow_sharing_data_for_third_party_personalization", label: "partners.label", help: "partners.help"}]},
      grok_settings: {title: "grok.title", intro: "grok.intro", graphql: true, blocks: [
        {head: "grok.data_sharing", field: "allow_xai_data_sharing", label: "grok.training", help: "grok.training_help"},
        {head: "grok.personalization_head", field: "allow_xai_personalization", label: "grok.personalization", help: "grok.personalization_help"},
        ...(boot.viewer_flags && boot.viewer_flags.grok_memory_control
          ? [{head: "grok.memory_head", field: "allow_grok_memory", label: "grok.memory", help: "grok.memory_help"}] : [])],
        rows: [["grok.delete", "grok.delete_desc", deleteHistory]]},
      ads_preferences: {title: "ads.title", intro: "ads.intro", blocks: [
        {field: "allow_ads_personalization", label: "ads.label", help: "ads.help"}],
        rows: [["ads.interests", null, "/settings/your_twitter_data/twitter_interests"], ["ads.advertisers", null, "/settings/your_advertiser_list"]]},
      off_twitter_activity: {title: "inferred.title", intro: "inferred.intro", blocks: single
        ? [{field: "use_cookie_personalization", label: "inferred.single_label", help: "inferred.device_help"}]
        : [{field: "use_cookie_personalization", label: "inferred.cookie_label", help: "inferred.cookie_help"},
           {field: "allow_logged_out_device_personalization", label: "inferred.device_label", help: "inferred.device_help"}]},
      location_information: {title: "location.title", intro: "location.intro", blocks: [
        {field: "allow_location_history_personalization", label: "location.label", help: "location.help"}],
        rows: [["location.posts", null, "/settings/location"], ["location.explore", null, "/settings/explore"]]},
    };
    return pages[section];
  }

  function deleteHistory() { toast(t("toast.history_deleted")); }

  function settingsNav(selected) {
    return h("section", {"aria-label": t("settings.nav_label"), class: "settings-nav"},
      h("div", {class: "column-header"}, h("h2", {}, t("settings.title"))),
      h("div", {class: "searchbox settings-search"}, icon("search", 18),
        h("input", {type: "text", placeholder: t("settings.search"), "aria-label": t("settings.search")})),
      h("div", {role: "tablist", "aria-orientation": "vertical"},
        SECTIONS.map((s) => h("a", {href: "/settings/" + s, role: "tab", "aria-selected": String(s === selected), class: "settings-tab" + (s === selected ? " selected" : "")},
          h("span", {}, t("section." + s)), icon("chevron", 18)))));
  }

  function row(title, desc, target) {
    const attrs = {role: "link", class: "settings-row"};
    const content = [h("div", {class: "row-text"}, h("span", {class: "row-title"}, title), desc ? h("span", {class: "row-desc"}, desc) : null), icon("chevron", 18)];
    if (typeof target === "function") return h("div", {...attrs, tabindex: "0", onclick: target}, content);
    return h("a", {...attrs, href: target}, content);
  }

  function wentWrongPane(retry) {
    return h("div", {class: "pane-message"},
      h("span", {}, t("error.title")),
      h("button", {type: "button", role: "button", class: "pill pill-blue", onclick: retry}, t("error.retry")));
  }

  /**
   * One setting: X's real wiring (2026) is a native checkbox whose accessible description is an element
   * with an id starting CHECKBOX_ holding the label text, and no <label>. The switch_markup fault draws an
   * ARIA switch (role=switch, aria-checked) instead. `block.saves` (mislabeled fault) is the field a click
   * really posts.
   */
  let checkboxSeq = 0;
  function checkboxBlock(block, values, switchMarkup) {
    const id = "CHECKBOX_" + (++checkboxSeq);
    const saves = block.saves || block.field;
    let control;
    if (switchMarkup) {
      control = h("div", {role: "switch", tabindex: "0", "aria-checked": String(!!values[block.field]), "aria-describedby": id, class: "x-switch"});
      const flip = () => { const v = control.getAttribute("aria-checked") !== "true"; control.setAttribute("aria-checked", String(v)); save(saves, v); };
      control.addEventListener("click", flip);
      control.addEventListener("keydown", (e) => { if (e.key === " " || e.key === "Enter") { e.preventDefault(); flip(); } });
    } else {
      control = h("input", {type: "checkbox", class: "x-check", "aria-describedby": id});
      control.checked = !!values[block.field];
      control.addEventListener("change", () => save(saves, control.checked));
    }
    return h("div", {class: "setting-block"},
      block.head ? h("h3", {class: "block-head"}, t(block.head)) : null,
      h("div", {class: "check-row"}, h("span", {class: "check-label", id}, t(block.label)), control),
      h("p", {class: "help"}, t(block.help), " ",
        h("a", {href: "https://help.x.com/en/rules-and-policies/data-processing-legal-bases", target: "_blank", rel: "noopener"}, t("settings.learn_more"))));
  }

  /** The page's blocks as X's redesign faults change them (boot.page_faults; see CONTRACT.md). */
  function redesigned(blocks) {
    const faults = boot.page_faults || [];
    const fault = (kind) => faults.find((f) => f.kind === kind);
    const target = (f) => f.field || blocks[0].field;
    let out = blocks.slice();
    if (fault("removed")) out = out.filter((b) => b.field !== target(fault("removed")));
    if (fault("mislabeled")) {
      const f = fault("mislabeled");
      const other = f.saves || (target(f) === "allow_ads_personalization" ? "allow_sharing_data_for_third_party_personalization" : "allow_ads_personalization");
      out = out.map((b) => (b.field === target(f) ? {...b, saves: other} : b));
    }
    if (fault("reworded")) out = out.map((b) => ({...b, label: "reworded." + b.field}));
    if (fault("reordered")) out.reverse();
    if (fault("inserted")) out.unshift({field: "allow_ai_partner_sharing", label: "inserted.label", help: "inserted.help"});
    return out;
  }

  /** The Grok preferences are GraphQL (2026): read by one query, each written by its own mutation, at
   *  /i/api/graphql/<this build's query id>/<operation>. */
  const GROK_MUTATIONS = {
    allow_xai_data_sharing: ["XaiDataSharingSettingsMutation", "allowXaiDataSharing"],
    allow_xai_personalization: ["XaiPersonalizationSettingsMutation", "allowXaiPersonalization"],
    allow_grok_memory: ["XaiMemoryMutation", "allowGrokMemory"],
  };
  const graphqlPath = (operation) => `/i/api/graphql/${(boot.graphql || {})[operation]}/${operation}`;

  async function readGrokPreferences() {
    const res = await call("GET", graphqlPath("GrokSettingsScreenQuery") + "?variables=" + encodeURIComponent("{}"));
    const prefs = res.ok ? (((res.data.data || {}).viewer || {}).user_preferences || {}) : {};
    return {...res, data: prefs};
  }

  /** Optimistic save, as X does: the box already shows the new value; a failure only raises a toast. */
  async function save(field, value) {
    const mutation = GROK_MUTATIONS[field];
    const res = mutation
      ? await call("POST", graphqlPath(mutation[0]), {variables: {[mutation[1]]: value}, queryId: (boot.graphql || {})[mutation[0]]})
      : await call("POST", "/1.1/account/settings.json", {[field]: String(value)}, true);
    if (res.ok) return;
    if (res.status === 401) { location.assign(loginUrl()); return; }
    const limited = res.status === 429 || (res.data.errors || []).some((e) => e.code === 88);
    toast(t(limited ? "toast.rate_limited" : "toast.save_failed"));
  }

  async function settingsDetails(section) {
    const back = h("div", {class: "column-header"},
      h("a", {href: "/settings/privacy_and_safety", "aria-label": t("settings.back"), "data-testid": "app-bar-back", class: "icon-btn"}, icon("back", 20)));
    if (section === "not_found") return [notFoundPane()];
    if (section === "privacy_and_safety") return privacyScreen();
    const page = settingPage(section);
    if (!page) {
      const rows = section === "account"
        ? ["info", "password", "archive", "deactivate"].map((k) => row(t("account." + k), t(`account.${k}_desc`), "/settings/your_twitter_data/" + k))
        : [];
      return [columnHeader(t("section." + section)), h("p", {class: "intro"}, t("intro." + section)), ...rows];
    }
    const res = page.graphql ? await readGrokPreferences() : await call("GET", "/1.1/account/settings.json");
    if (res.status === 401) { location.assign(loginUrl()); return null; }
    back.append(h("h2", {}, t(page.title)));
    if (!res.ok) return [back, wentWrongPane(() => redrawDetails(section))];
    return [back, h("p", {class: "intro"}, t(page.intro)),
      ...redesigned(page.blocks).map((b) => checkboxBlock(b, res.data, (boot.page_faults || []).some((f) => f.kind === "switch_markup"))),
      ...(page.rows || []).map(([title, desc, target]) => row(t(title), desc ? t(desc) : null, target))];
  }

  function privacyScreen() {
    const links = boot.links || {};
    const dataRow = (key, page) => row(t(`privacy.${key}`), t(`privacy.${key}_desc`), links[page] || "/settings/" + page);
    return [columnHeader(t("section.privacy_and_safety")),
      h("div", {"data-testid": "privacyAndSafetyScreen", class: "privacy-screen"},
        h("div", {class: "group"}, h("h2", {class: "group-head"}, t("privacy.group_activity")),
          ["audience", "posts", "content", "mute", "dms", "discover"].map((k) => row(t(`privacy.${k}`), t(`privacy.${k}_desc`), "/settings/" + k))),
        h("div", {class: "group"}, h("h2", {class: "group-head"}, t("privacy.group_data")),
          dataRow("ads", "ads_preferences"), dataRow("inferred", "off_twitter_activity"),
          dataRow("partners", "data_sharing_with_business_partners"), dataRow("location", "location_information"),
          dataRow("grok", "grok_settings")),
        h("div", {class: "group"}, h("h2", {class: "group-head"}, t("privacy.group_learn")),
          row(t("privacy.center"), null, "https://privacy.x.com"),
          row(t("privacy.policy"), null, "/en/privacy"),
          row(t("privacy.contact"), null, "https://help.x.com/forms/privacy")))];
  }

  async function redrawDetails(section) {
    const details = document.querySelector(".settings-details");
    const started = Date.now();
    const content = await settingsDetails(section);
    if (!content) return;
    await sleep(Math.max(0, settle() - (Date.now() - started)));
    details.replaceChildren(...content);
  }

  PAGES.settings = async () => {
    const viewer = await viewerOrLogin();
    if (!viewer) return null;
    const section = boot.section;
    const content = await settingsDetails(section);
    if (!content) return null;
    const selected = SECTIONS.includes(section) ? section : (DATA_PAGES.includes(section) ? "privacy_and_safety" : null);
    return () => {
      document.title = t("title.settings");
      frame(viewer, h("div", {class: "settings" + (section === "account" ? " is-root" : "")},
        settingsNav(selected),
        h("section", {"aria-label": t("settings.details_label"), class: "settings-details"}, content)));
    };
  };

  // ---------------------------------------------------------------- logged-out pages
  PAGES.landing = async () => () => {
    document.title = t("title.landing");
    root.replaceChildren(landingView());
  };

  function landingView() {
    return h("div", {class: "landing"},
      h("div", {class: "landing-logo"}, icon("logo", 340)),
      h("div", {class: "landing-side"},
        h("h1", {}, t("landing.headline")),
        h("h2", {}, t("landing.join")),
        h("a", {href: "/i/flow/signup", role: "link", class: "pill pill-blue wide"}, t("landing.create")),
        h("p", {class: "muted small"}, t("landing.terms")),
        h("h3", {}, t("landing.have_account")),
        h("a", {href: "/i/flow/login", role: "link", "data-testid": "loginButton", class: "pill pill-outline wide"}, t("landing.signin"))));
  }

  // ---------------------------------------------------------------- login (both UIs)
  /** One login conversation with the server: the flow token and the subtask the server asked for. */
  function LoginFlow(endpoint) {
    this.endpoint = endpoint;
    this.token = null;
    this.subtask = null;
  }
  LoginFlow.prototype.start = async function () {
    const flowData = {flow_context: {start_location: {location: "manual_link"}}, device_token: JSON.stringify(await deviceSignals())};
    const res = await call("POST", this.endpoint + "?flow_name=login", {input_flow_data: flowData});
    return this.accept(res);
  };
  LoginFlow.prototype.send = async function (input) {
    const res = await call("POST", this.endpoint, {flow_token: this.token, subtask_inputs: [Object.assign({subtask_id: this.subtask.subtask_id}, input)]});
    return this.accept(res);
  };
  LoginFlow.prototype.accept = async function (res) {
    if (res.ok && res.data.lang && res.data.lang !== boot.lang) await loadStrings(res.data.lang);
    if (res.ok && res.data.flow_token) {
      this.token = res.data.flow_token;
      this.subtask = res.data.subtasks[0];
    }
    return res;
  };

  /** X's device token: what the browser says about itself, in the page and in a worker (the server
   *  refuses a browser that announces automation; see recordings/automation.py). */
  async function deviceSignals() {
    const brandsOf = (nav) => ((nav.userAgentData && nav.userAgentData.brands) || []).map((b) => b.brand);
    const probe = "const n = navigator; postMessage({ua: n.userAgent, brands: ((n.userAgentData && n.userAgentData.brands) || []).map((b) => b.brand)})";
    const inWorker = await new Promise((resolve) => {
      try {
        const worker = new Worker(URL.createObjectURL(new Blob([probe], {type: "text/javascript"})));
        const timer = setTimeout(() => { worker.terminate(); resolve({}); }, 3000);
        worker.onmessage = (e) => { clearTimeout(timer); worker.terminate(); resolve(e.data || {}); };
        worker.onerror = () => { clearTimeout(timer); resolve({}); };
      } catch (e) { resolve({}); }
    });
    return {webdriver: navigator.webdriver === true, ua: navigator.userAgent, brands: brandsOf(navigator),
            languages: Array.from(navigator.languages || []), worker_ua: inWorker.ua || "", worker_brands: inWorker.brands || []};
  }

  /** Error toasts: X's codes, read in the context of the screen that was answered. */
  function loginErrorToast(res, screen) {
    const code = ((res.data.errors || [])[0] || {}).code;
    let key = "toast.login_generic";
    if (code === 367) key = "toast.limited";
    else if (code === 236) key = "toast.wrong_code";
    else if (code === 399 && screen === "identifier") key = "toast.not_found";
    else if (code === 399 && screen === "password") key = "toast.wrong_password";
    else if (code === 399 && screen === "alternate") key = "toast.wrong_alternate";
    toast(t(key));
  }

  function field(label, attrs) {
    const input = h("input", Object.assign({type: "text", class: "field-input", placeholder: " "}, attrs));
    const wrap = h("label", {class: "field"}, input, h("span", {class: "field-label"}, label));
    return {wrap, input};
  }

  function pillButton(label, attrs) {
    return h("button", Object.assign({type: "button", role: "button", class: "pill pill-dark wide"}, attrs), label);
  }

  /** Poll the server while a screen waits for a human (captcha, email, denial). */
  function poller(flow, screenId, onChange) {
    const timer = setInterval(async () => {
      if (!flow.subtask || flow.subtask.subtask_id !== screenId) { clearInterval(timer); return; }
      const res = await flow.send({poll: true});
      if (res.ok && flow.subtask.subtask_id !== screenId) { clearInterval(timer); onChange(res); }
    }, 1000);
    return timer;
  }

  /** The OCF text-entry screens' parts (X's "ocfEnterText" markup), bound to one flow and UI. */
  function ocf(flow, ui) {
    return {
      input: (label, extra) => field(label, Object.assign({"data-testid": "ocfEnterTextTextInput", name: "text"}, extra)),
      next: (onclick) => pillButton(t("login.next"), {"data-testid": "ocfEnterTextNextButton", onclick}),
      submitText: (input, screen, extra) => async () => {
        const res = await flow.send({enter_text: Object.assign({text: input.value, link: "next_link"}, extra || {})});
        if (!res.ok) { loginErrorToast(res, screen); return; }
        ui.advance(res);
      },
      onEnter: (input, fn) => input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") fn(); }),
    };
  }

  /** Screens shared by both UIs; `ui` supplies how a screen is shown and how a step result is followed. */
  function challengeScreen(flow, ui) {
    const id = flow.subtask.subtask_id;
    const o = ocf(flow, ui);
    if (id === "LoginEnterAlternateIdentifierSubtask") {
      const f = o.input(t("login.unusual_field"), {autocomplete: "on"});
      const go = o.submitText(f.input, "alternate");
      o.onEnter(f.input, go);
      return {title: t("login.unusual_title"), body: [h("p", {class: "muted"}, t("login.unusual_body")), f.wrap], footer: o.next(go), focus: f.input};
    }
    if (id === "LoginTwoFactorAuthChallenge") return twoFactorText(flow, ui);
    if (id === "LoginAcid") {
      poller(flow, id, (res) => ui.advance(res));
      const f = o.input(t("login.email_field"), {name: "email_code", inputmode: "numeric", autocomplete: "one-time-code"});
      const go = o.submitText(f.input, "email");
      o.onEnter(f.input, go);
      return {title: t("login.email_title"), body: [h("p", {class: "muted"}, t("login.email_body", {email: flow.subtask.email_hint || ""})), f.wrap,
        h("a", {href: "#", class: "link small", onclick: (ev) => ev.preventDefault()}, t("login.email_resend"))], footer: o.next(go), focus: f.input};
    }
    if (id === "DenyLoginSubtask") {
      poller(flow, id, (res) => ui.advance(res));
      const cta = pillButton(t("login.deny_cta"), {"data-testid": "OCF_CallToAction_Button", onclick: async () => {
        const res = await flow.send({cta: {link: "next_link"}});
        if (!res.ok) { loginErrorToast(res, "deny"); return; }
        ui.advance(res);
      }});
      return {title: t("login.deny_title"), body: [h("p", {class: "muted"}, t("login.deny_body"))], footer: cta};
    }
    if (id === "ArkoseLogin") {
      poller(flow, id, (res) => ui.advance(res));
      return {title: t("login.arkose_title"), body: [h("p", {class: "muted"}, t("login.arkose_body")),
        h("iframe", {id: "arkose_iframe", src: "/i/arkose/challenge", title: t("arkose.title"), class: "arkose-frame"})], footer: null};
    }
    return {title: t("login.title"), body: [h("p", {}, t("toast.login_generic"))], footer: null};
  }

  /** Legacy 2FA: one text box, plus "choose a different method" -> backup code. */
  function twoFactorText(flow, ui) {
    const o = ocf(flow, ui);
    const f = o.input(t("login.2fa_field"), {inputmode: "numeric", autocomplete: "one-time-code"});
    const go = o.submitText(f.input, "two_factor", {method: "totp"});
    o.onEnter(f.input, go);
    return {title: t("login.2fa_title"), body: [h("p", {class: "muted"}, t("login.2fa_body")), f.wrap, otherMethodLink(flow, ui)],
      footer: o.next(go), focus: f.input};
  }

  function otherMethodLink(flow, ui) {
    if (!(flow.subtask.methods || []).includes("backup_code")) return null;
    return h("a", {href: "#", "data-testid": "choose-other-method", class: "link",
                   onclick: (ev) => { ev.preventDefault(); ui.show(methodChooser(flow, ui)); }}, t("login.2fa_other"));
  }

  function methodChooser(flow, ui) {
    const o = ocf(flow, ui);
    let chosen = "totp";
    const radio = (value, label) => {
      const el = h("div", {role: "radio", "aria-checked": String(value === chosen), tabindex: "0", class: "radio-row", "data-method": value},
        h("span", {}, label), h("span", {class: "radio-dot"}));
      el.addEventListener("click", () => {
        chosen = value;
        el.parentElement.querySelectorAll('[role="radio"]').forEach((r) => r.setAttribute("aria-checked", String(r === el)));
      });
      return el;
    };
    const go = () => {
      if (chosen === "totp") { ui.show(ui.twoFactor ? ui.twoFactor() : twoFactorText(flow, ui)); return; }
      const f = o.input(t("login.backup_field"), {autocomplete: "off"});
      const submit = o.submitText(f.input, "backup", {method: "backup_code"});
      o.onEnter(f.input, submit);
      ui.show({title: t("login.backup_title"), body: [h("p", {class: "muted"}, t("login.backup_body")), f.wrap], footer: o.next(submit), focus: f.input});
    };
    return {title: t("login.method_title"),
      body: [h("div", {role: "radiogroup", "aria-label": t("login.method_title")}, radio("totp", t("login.method_app")), radio("backup_code", t("login.method_backup")))],
      footer: o.next(go)};
  }

  function finishLogin() { location.assign(afterLoginTarget()); }

  /** Follow a bounce to the other login UI, keeping where to go after login. */
  function bounce(target) {
    const after = new URLSearchParams(location.search).get("redirect_after_login");
    location.assign(after ? `${target}&redirect_after_login=${encodeURIComponent(after)}` : target);
  }

  // Legacy UI: a modal over the landing page at /i/flow/login.
  PAGES.login_legacy = async () => {
    const flow = new LoginFlow("/1.1/onboarding/task.json");
    const res = await flow.start();
    return () => {
      document.title = t("title.login");
      const body = h("div", {class: "modal-body login-body"});
      const footer = h("div", {class: "modal-footer"});
      const dialog = h("div", {role: "dialog", "aria-modal": "true", "aria-labelledby": "modal-header", class: "modal login-modal"},
        h("div", {class: "modal-bar"},
          h("a", {href: "/", "aria-label": t("login.close"), role: "button", class: "icon-btn"}, icon("close", 20)),
          h("div", {class: "modal-logo"}, icon("logo", 30))),
        body, footer);
      root.replaceChildren(landingView(), h("div", {class: "modal-mask"}, dialog));
      const ui = {
        show(screen) {
          body.replaceChildren(h("h1", {id: "modal-header"}, screen.title), ...screen.body.filter(Boolean));
          footer.replaceChildren(...(screen.footer ? [screen.footer] : []));
          if (screen.focus) screen.focus.focus();
        },
        advance(r) {
          if (r.data.redirect && !r.data.flow_token) { r.data.redirect === "/" ? location.assign("/") : bounce(r.data.redirect); return; }
          if (flow.subtask.subtask_id === "LoginSuccessSubtask") { finishLogin(); return; }
          ui.show(legacyScreen(flow, ui));
        },
      };
      if (!res.ok) { ui.show({title: t("login.title"), body: [h("p", {}, t("toast.login_generic"))]}); return; }
      ui.show(legacyScreen(flow, ui));
    };
  };

  function legacyScreen(flow, ui) {
    const id = flow.subtask.subtask_id;
    if (id === "LoginEnterUserIdentifierSSO") {
      const f = field(t("login.identifier"), {autocomplete: "username", name: "text", autocapitalize: "sentences", dir: "auto"});
      const go = async () => {
        const res = await flow.send({settings_list: {setting_responses: [{key: "user_identifier", response_data: {text_data: {result: f.input.value}}}], link: "next_link"}});
        if (!res.ok) { loginErrorToast(res, "identifier"); return; }
        ui.advance(res);
      };
      f.input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
      return {title: t("login.title"), body: [
        h("button", {type: "button", role: "button", class: "pill pill-outline wide sso"}, h("span", {class: "sso-g"}, "G"), t("login.google")),
        h("button", {type: "button", role: "button", class: "pill pill-outline wide sso"}, h("span", {class: "sso-a"}), t("login.apple")),
        h("div", {class: "divider"}, h("span", {}, t("login.or"))),
        f.wrap,
        pillButton(t("login.next"), {onclick: go}),
        h("button", {type: "button", role: "button", class: "pill pill-outline wide"}, t("login.forgot")),
        h("p", {class: "muted signup-line"}, t("login.no_account"), " ", h("a", {href: "/i/flow/signup", class: "link"}, t("login.signup")))],
        footer: null, focus: f.input};
    }
    if (id === "LoginEnterPassword") {
      const user = field(t("login.username"), {value: flow.subtask.screen_name || "", disabled: true});
      const pw = field(t("login.password"), {type: "password", name: "password", autocomplete: "current-password"});
      const btn = pillButton(t("login.login"), {"data-testid": "LoginForm_Login_Button", disabled: true});
      const go = async () => {
        if (!pw.input.value) return;
        btn.disabled = true;
        const res = await flow.send({enter_password: {password: pw.input.value, link: "next_link"}});
        btn.disabled = false;
        if (!res.ok) { loginErrorToast(res, "password"); return; }
        ui.advance(res);
      };
      pw.input.addEventListener("input", () => { btn.disabled = !pw.input.value; });
      pw.input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
      btn.addEventListener("click", go);
      return {title: t("login.password_title"), body: [user.wrap, pw.wrap, h("a", {href: "/i/flow/password_reset", class: "link small"}, t("login.forgot"))],
        footer: btn, focus: pw.input};
    }
    return challengeScreen(flow, ui);
  }

  // New UI (mid 2026): a full page at /i/jf/onboarding/web, the form rendered twice (one hidden).
  // The code steps are real page loads (/two_factor, /email_code) that resume the flow from
  // sessionStorage, so the URL a driver sees always says which step it is on.
  const JF_KEY = "jf_flow";
  const JF_BASE = "/i/jf/onboarding/web";

  PAGES.login_new = async () => {
    const flow = new LoginFlow("/i/jf/onboarding/api");
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(JF_KEY) || "null"); } catch (e) { saved = null; }
    if (boot.step && !saved) { location.replace(JF_BASE + location.search); return null; }
    let res = {ok: true};
    if (boot.step) {
      flow.token = saved.token;
      flow.subtask = saved.subtask;
      if (saved.lang !== boot.lang) await loadStrings(saved.lang);
    } else {
      sessionStorage.removeItem(JF_KEY);
      res = await flow.start();
    }
    return () => {
      document.title = t("title.login");
      const card = h("div", {class: "jf-card"});
      root.replaceChildren(h("div", {class: "jf-page"}, h("div", {class: "jf-logo"}, icon("logo", 40)), card));
      const hidden = h("div", {style: {display: "none"}, "aria-hidden": "true"}, jfForm(null));
      const live = jfForm(flow);
      const ui = {
        show(screen) {
          card.replaceChildren(h("h1", {}, screen.title), ...screen.body.filter(Boolean), ...(screen.footer ? [screen.footer] : []));
          if (screen.focus) screen.focus.focus();
        },
        twoFactor: () => sixBoxScreen(flow, ui),
        advance(r) {
          if (r.data.redirect && !r.data.flow_token) { location.assign(r.data.redirect); return; }
          const id = flow.subtask.subtask_id;
          if (id === "LoginSuccessSubtask") { sessionStorage.removeItem(JF_KEY); finishLogin(); return; }
          if (id === "LoginEnterPassword") {
            if (!card.contains(live)) card.replaceChildren(hidden, live);
            live.dispatchEvent(new CustomEvent("password"));
            return;
          }
          const step = {LoginTwoFactorAuthChallenge: "two_factor", LoginAcid: "email_code"}[id];
          if (step) {
            sessionStorage.setItem(JF_KEY, JSON.stringify({token: flow.token, subtask: flow.subtask, lang: boot.lang}));
            location.assign(`${JF_BASE}/${step}${location.search}`);
            return;
          }
          ui.show(challengeScreen(flow, ui));
        },
      };
      live.ui = ui;
      if (!res.ok) { ui.show({title: t("jf.title"), body: [h("p", {}, t("toast.login_generic"))]}); return; }
      if (boot.step) { ui.show(sixBoxScreen(flow, ui)); return; }
      card.replaceChildren(hidden, live);
      live.querySelector('input[name="username_or_email"]').focus();
    };
  };

  /** The identifier+password form; with flow null it is the inert hidden copy X also renders. */
  function jfForm(flow) {
    const user = h("input", {type: "text", name: "username_or_email", autocomplete: "username webauthn", class: "field-input", placeholder: " ", dir: "auto"});
    const pass = h("input", {type: "password", name: "password", autocomplete: "current-password", class: "field-input", placeholder: " ", tabindex: "-1",
                             style: {opacity: "0", pointerEvents: "none"}});
    const passWrap = h("label", {class: "field jf-pass", style: {opacity: "0", pointerEvents: "none"}}, pass,
      h("span", {class: "field-label", "data-i18n": "jf.password"}, t("jf.password")));
    const button = h("button", {type: "button", role: "button", class: "pill pill-dark wide", disabled: true}, t("jf.continue"));
    let stage = "identifier";
    const form = h("form", {class: "jf-form", novalidate: true},
      h("h1", {"data-i18n": "jf.title"}, t("jf.title")),
      h("label", {class: "field"}, user, h("span", {class: "field-label", "data-i18n": "jf.identifier"}, t("jf.identifier"))),
      passWrap,
      button,
      h("a", {href: "/i/flow/password_reset", class: "link small", "data-i18n": "jf.forgot"}, t("jf.forgot")),
      h("p", {class: "muted"}, h("a", {href: "/i/flow/signup", class: "link", "data-i18n": "jf.signup"}, t("jf.signup"))));
    user.addEventListener("input", () => {
      if (stage !== "identifier") return;
      const has = user.value.trim().length > 0;
      button.type = has ? "submit" : "button";
      button.disabled = !has;
    });
    pass.addEventListener("input", () => { if (stage === "password") button.disabled = !pass.value; });
    form.addEventListener("password", () => {
      stage = "password";
      user.readOnly = true;
      for (const el of [pass, passWrap]) { el.style.opacity = "1"; el.style.pointerEvents = "auto"; }
      pass.removeAttribute("tabindex");
      button.textContent = t("jf.login");
      button.type = "submit";
      button.disabled = !pass.value;
      pass.focus();
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!flow || button.disabled) return;
      button.disabled = true;
      let res;
      if (stage === "identifier") {
        res = await flow.send({settings_list: {setting_responses: [{key: "user_identifier", response_data: {text_data: {result: user.value}}}], link: "next_link"}});
      } else {
        res = await flow.send({enter_password: {password: pass.value, link: "next_link"}});
      }
      button.disabled = false;
      if (!res.ok) { loginErrorToast(res, stage); return; }
      if (stage === "identifier") relabel(form);
      form.ui.advance(res);
    });
    return form;
  }

  /** Once the account is known the strings may have changed language: relabel the live form. */
  function relabel(form) {
    form.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  }

  /** New-UI 2FA / email code: six one-digit boxes that submit themselves when full. */
  function sixBoxScreen(flow, ui) {
    const id = flow.subtask.subtask_id;
    const email = id === "LoginAcid";
    if (email) poller(flow, id, (res) => ui.advance(res));
    const boxes = [0, 1, 2, 3, 4, 5].map((i) => h("input", {type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "1",
                                                           class: "otp-box", "aria-label": t("jf.digit", {n: i + 1})}));
    let busy = false;
    const submit = async () => {
      const code = boxes.map((b) => b.value).join("");
      if (busy || code.length < 6) return;
      busy = true;
      const res = await flow.send({enter_text: {text: code, method: "totp", link: "next_link"}});
      busy = false;
      if (!res.ok) {
        loginErrorToast(res, "two_factor");
        boxes.forEach((b) => { b.value = ""; });
        boxes[0].focus();
        return;
      }
      ui.advance(res);
    };
    const spread = (start, digits) => {
      for (let k = 0; k < digits.length && start + k < 6; k++) boxes[start + k].value = digits[k];
      const nextEmpty = boxes.findIndex((b) => !b.value);
      (nextEmpty === -1 ? boxes[5] : boxes[nextEmpty]).focus();
      if (nextEmpty === -1) submit();
    };
    boxes.forEach((box, i) => {
      box.addEventListener("input", () => {
        const digits = box.value.replace(/\D/g, "");
        box.value = "";
        spread(i, digits);
      });
      box.addEventListener("paste", (ev) => {
        ev.preventDefault();
        spread(i, (ev.clipboardData.getData("text") || "").replace(/\D/g, ""));
      });
      box.addEventListener("keydown", (ev) => {
        if (ev.key === "Backspace" && !box.value && i > 0) boxes[i - 1].focus();
      });
    });
    const other = email ? null : otherMethodLink(flow, ui);
    return {title: t(email ? "jf.email_title" : "jf.2fa_title"),
      body: [h("p", {class: "muted"}, email ? t("jf.email_body", {email: flow.subtask.email_hint || ""}) : t("jf.2fa_body")),
        h("div", {class: "otp-row"}, boxes), other], footer: null, focus: boxes[0]};
  }

  // The captcha inside the iframe: a puzzle no script solves.
  PAGES.arkose = async () => () => {
    const status = h("p", {class: "muted", role: "status"});
    const puzzle = h("div", {class: "arkose-puzzle", hidden: true},
      h("div", {class: "arkose-image"}, h("span", {class: "arkose-animal"}, "🐑")),
      h("div", {class: "arkose-controls"},
        h("button", {type: "button", role: "button", class: "pill pill-outline small", "aria-label": "←"}, "←"),
        h("button", {type: "button", role: "button", class: "pill pill-outline small", "aria-label": "→"}, "→")),
      h("button", {type: "button", role: "button", class: "pill pill-blue", onclick: () => { status.textContent = t("arkose.wrong"); }}, t("arkose.submit")));
    const start = h("button", {type: "button", role: "button", class: "pill pill-blue", onclick: () => { start.hidden = true; puzzle.hidden = false; }}, t("arkose.start"));
    root.replaceChildren(h("div", {class: "arkose"}, h("h2", {}, t("arkose.title")), h("p", {}, t("arkose.body")), start, puzzle, status,
      h("a", {href: "#", class: "link small", onclick: (ev) => ev.preventDefault()}, t("arkose.audio"))));
  };

  // ---------------------------------------------------------------- start
  // X's pages settle 150-400 ms after load; the server may set another range (boot.settle_ms).
  function settle() {
    const [low, high] = boot.settle_ms || [150, 400];
    return low + Math.floor(Math.random() * (high - low));
  }

  async function main() {
    const started = Date.now();
    const wait = settle();
    await loadStrings(boot.lang);
    const page = PAGES[boot.page] || PAGES.not_found;
    const draw = await page();
    if (!draw) return;
    await sleep(Math.max(0, wait - (Date.now() - started)));
    draw();
  }

  main();
})();
