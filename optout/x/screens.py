"""How each X screen and control is recognised, in one place. Locators use URLs, roles, input
type/name/autocomplete and data-testid, never visible text, so they work in every display language."""

from __future__ import annotations

from enum import StrEnum

# ---- login screens (owned by x/login.py) ----
# Where a login starts. X redirects it to the 2026 flow (/i/jf/onboarding/web) where that is rolled out.
LOGIN_PATH = "/i/flow/login"
# Where the session check looks for the logged-in markers.
HOME_PATH = "/home"
# URL path fragments of the login flows: landing on one of these means "not logged in".
LOGIN_PATHS = ("/i/flow/login", "/i/jf/onboarding", "/login", "/i/flow/signup")
# X's onboarding API (legacy /1.1/onboarding/task.json; the 2026 flow posts to its own endpoint):
# its answers name the next subtask and carry error codes, a second signal beside the DOM.
ONBOARDING_URL_PART = "/onboarding/"
# Subtask ids X's onboarding API answers with.
SUBTASK_IDENTIFIER = "LoginEnterUserIdentifierSSO"
SUBTASK_ALTERNATE = "LoginEnterAlternateIdentifierSubtask"
SUBTASK_PASSWORD = "LoginEnterPassword"
SUBTASK_TWO_FACTOR = "LoginTwoFactorAuthChallenge"
SUBTASK_EMAIL = "LoginAcid"
SUBTASK_DENIED = "DenyLoginSubtask"
SUBTASK_CAPTCHA = "ArkoseLogin"
SUBTASK_SUCCESS = "LoginSuccessSubtask"
# X's error codes on the onboarding API.
CODE_WRONG_CREDENTIAL = 399  # wrong password, unknown account, or "could not log you in now"
CODE_LIMITED = 367  # "We've temporarily limited your login"
CODE_WRONG_CODE = 236  # 2FA / email code not accepted
CODE_RATE_LIMIT = 88

# The controls. Several copies of a form may exist (the 2026 flow renders it twice, one hidden), so
# every action uses the first copy a person could actually use (see USABLE_JS).
IDENTIFIER_INPUT = "input[autocomplete~=username]:not([data-testid=ocfEnterTextTextInput]), input[name=username_or_email]"
PASSWORD_INPUT = "input[name=password], input[type=password], input[autocomplete=current-password]"
OCF_INPUT = "input[data-testid=ocfEnterTextTextInput]"
OCF_NEXT = "[data-testid=ocfEnterTextNextButton]"
LOGIN_BUTTON = "[data-testid=LoginForm_Login_Button]"
# A step's own button where it has one (the 2026 flow's Continue turns into a submit button only once
# the field has text); where none is found the handlers press Enter, which every X login form accepts.
SUBMIT_BUTTONS = "form button[type=submit]"
PASSWORD_BUTTONS = f"{LOGIN_BUTTON}, {SUBMIT_BUTTONS}"
CODE_BOXES = "input[autocomplete=one-time-code][maxlength='1']"
DENIED_BUTTON = "[data-testid=OCF_CallToAction_Button]"
CAPTCHA_FRAME = "iframe#arkose_iframe, iframe[src*=arkose], iframe[src*=funcaptcha]"
ALERT = "[role=alert]"
LOGGED_IN_MARKERS = "[data-testid=AppTabBar_Home_Link], [data-testid=SideNav_AccountSwitcher_Button]"
PROFILE_LINK = "a[data-testid=AppTabBar_Profile_Link]"
# What must be blacked out in a login screenshot: anything that can hold a password or a code.
LOGIN_SECRET_INPUTS = (
    "input[type=password], input[name=password], input[autocomplete=current-password], "
    "input[autocomplete=one-time-code], input[data-testid=ocfEnterTextTextInput], input[name=email_code]"
)

_USABLE_JS = """  const usable = (el) => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || getComputedStyle(el).pointerEvents === 'none') return false;
    for (let e = el; e; e = e.parentElement) {
      const st = getComputedStyle(e);
      if (st.display === 'none' || st.visibility === 'hidden' || parseFloat(st.opacity) === 0) return false;
    }
    return true;
  };
"""
# One round trip reads everything the login recogniser needs. "Usable" means a person could use it:
# laid out, not hidden by display/visibility/opacity on it or an ancestor, and taking pointer events
# (X pre-renders the password field at opacity 0 with pointer-events none).
LOGIN_PROBE_JS = """(sel) => {
""" + _USABLE_JS + """  const all = (s) => [...document.querySelectorAll(s)].filter(usable);
  const ocf = all(sel.ocf)[0];
  const profile = document.querySelector(sel.profile);
  const alert = all(sel.alert)[0];
  return {
    logged_in: all(sel.logged_in).length > 0,
    profile_href: profile ? profile.getAttribute('href') : null,
    captcha: document.querySelectorAll(sel.captcha).length > 0,
    denied: all(sel.denied).length > 0,
    code_boxes: all(sel.boxes).length,
    ocf: ocf ? {name: ocf.name || '', type: ocf.type || '', autocomplete: ocf.autocomplete || '',
                inputmode: ocf.inputMode || ''} : null,
    password: all(sel.password).length > 0,
    identifier: all(sel.identifier).length > 0,
    alert: alert ? (alert.innerText || '').trim().slice(0, 200) : null,
  };
}"""
LOGIN_PROBE_SELECTORS = {
    "ocf": OCF_INPUT, "profile": PROFILE_LINK, "alert": ALERT, "logged_in": LOGGED_IN_MARKERS,
    "captcha": CAPTCHA_FRAME, "denied": DENIED_BUTTON, "boxes": CODE_BOXES, "password": PASSWORD_INPUT,
    "identifier": IDENTIFIER_INPUT,
}
# The positions (in document order, as Playwright's locator.nth counts) of the usable copies of a
# control, so that an action reaches the copy a person could use and never a hidden twin.
USABLE_INDEXES_JS = """(selector) => {
""" + _USABLE_JS + """  return [...document.querySelectorAll(selector)].map((el, i) => usable(el) ? i : -1).filter((i) => i >= 0);
}"""




class LoginScreen(StrEnum):
    """The screens a login can show; LOADING until one is recognisable."""

    LOADING = "loading"
    LOGGED_IN = "logged_in"
    IDENTIFIER = "identifier"
    ALTERNATE_IDENTIFIER = "unusual_activity"  # "enter your phone number or username"
    PASSWORD = "password"
    TWO_FACTOR = "two_factor"
    EMAIL_CODE = "email_code"
    EMAIL_ADDRESS = "email_address"
    DENIED = "suspicious_login"
    CAPTCHA = "captcha"


_OCF_BY_SUBTASK = {
    SUBTASK_ALTERNATE: LoginScreen.ALTERNATE_IDENTIFIER,
    SUBTASK_TWO_FACTOR: LoginScreen.TWO_FACTOR,
    SUBTASK_EMAIL: LoginScreen.EMAIL_CODE,
}


def _ocf_screen(ocf: dict, subtask: str | None) -> LoginScreen:
    """X reuses one text input for several questions: the subtask id says which, the input's
    attributes are the fallback when no onboarding answer was seen."""
    asks_email = ocf.get("type") == "email" or "email" in ocf.get("autocomplete", "").split()
    if subtask in _OCF_BY_SUBTASK:
        screen = _OCF_BY_SUBTASK[subtask]
        return LoginScreen.EMAIL_ADDRESS if screen is LoginScreen.EMAIL_CODE and asks_email else screen
    if ocf.get("name") == "email_code":
        return LoginScreen.EMAIL_CODE
    if asks_email:
        return LoginScreen.EMAIL_ADDRESS
    if ocf.get("autocomplete") == "one-time-code" or ocf.get("inputmode") == "numeric":
        return LoginScreen.TWO_FACTOR
    return LoginScreen.ALTERNATE_IDENTIFIER


def _boxes_screen(path: str, subtask: str | None) -> LoginScreen:
    if "two_factor" in path or subtask == SUBTASK_TWO_FACTOR:
        return LoginScreen.TWO_FACTOR
    if "email" in path or subtask == SUBTASK_EMAIL:
        return LoginScreen.EMAIL_CODE
    return LoginScreen.LOADING


def classify_login(probe: dict, path: str, subtask: str | None) -> LoginScreen:
    """Name the screen from LOGIN_PROBE_JS's reading, the URL path and the last onboarding subtask id.
    The most advanced screen wins: X keeps earlier inputs in the DOM while it draws the next one."""
    if probe.get("logged_in"):
        return LoginScreen.LOGGED_IN
    if probe.get("captcha") or subtask == SUBTASK_CAPTCHA:
        return LoginScreen.CAPTCHA
    if probe.get("denied") or subtask == SUBTASK_DENIED:
        return LoginScreen.DENIED
    if probe.get("code_boxes", 0) >= 6:
        return _boxes_screen(path, subtask)
    if probe.get("ocf"):
        return _ocf_screen(probe["ocf"], subtask)
    if probe.get("password"):
        return LoginScreen.PASSWORD
    if probe.get("identifier"):
        return LoginScreen.IDENTIFIER
    return LoginScreen.LOADING

# ---- settings pages (owned by x/settings.py) ----
# A setting page's controls are found by role and text (x/controls.py), not by a selector here.
# X's save endpoint for account settings (api.x.com, x.com/i/api or the replica's host).
SETTINGS_API_SUFFIX = "/1.1/account/settings.json"
# Menu path: the main nav's More button and its "Settings and privacy" link (by testid); then links
# (settings tabs, then the privacy_and_safety rows) chosen by href or by their title in any known language.
MORE_MENU = "[data-testid=AppTabBar_More_Menu]"
SETTINGS_LINK = "a[data-testid=settings]"
MENU_LINKS = "a[href], [role=link], [role=tab]"
# Loading markers: X's spinner, and the splash the app shell shows before the first draw.
LOADING = "[role=progressbar], [aria-label=Loading]"
# A drawn page shows a heading (a settings column header, a 404 pane).
PAGE_HEADING = "section h2, [data-testid=error-detail], [data-testid=primaryColumn] h1"
# X's 404 pane ("Hmm...this page doesn't exist."): the setting is not at this URL.
NOT_FOUND_PANE = "[data-testid=error-detail]"
# API calls whose failure makes X draw "Something went wrong. Try reloading." (recovered by a reload,
# never by clicking a button found by its text).
API_PATH_MARKERS = ("/1.1/", "/i/api/", "/graphql/")
# Overlays that can cover the page: the EU cookie banner (its last button refuses non-essential
# cookies) and the first-visit welcome dialog (its close button). A dialog with a text field is never
# an overlay to close: it is asking for something.
COOKIE_BANNER = "[data-testid=BottomBar]"
COOKIE_REFUSE = "[data-testid=BottomBar] button:last-of-type, [data-testid=BottomBar] [role=button]:last-of-type"
WELCOME_DIALOG = "[role=dialog]:not(:has(input))"
WELCOME_CLOSE = "[role=dialog]:not(:has(input)) [data-testid=app-bar-close]"
LOGIN_URL_MARKERS = ("/i/flow/login", "/i/jf/onboarding", "/login")
