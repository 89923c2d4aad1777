"""What every dashboard page is held to in the browser tests: no serious or
critical accessibility violation (axe-core), nothing cut off at a phone's
width, no template syntax on screen; and the steps most tests share."""

from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = Axe()
BLOCKING = ("serious", "critical")


def login(page, site, user, password: str = "password") -> None:
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.locator("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()


def accessibility_problems(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands."""
    violations = AXE.run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in violations
        if v["impact"] in BLOCKING
    ]


# Any control whose box reaches past the screen's edge, or past the edge of a
# scrolling box that holds it (a table's), is cut off for whoever reads it.
CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = [];
  const controls = document.querySelectorAll(
    "main button, main a.btn, main input:not([type=hidden]):not(.file-input), main select, main .badge");
  for (const el of controls) {
    const box = el.getBoundingClientRect();
    if (!box.width || el.closest("dialog:not([open])") || el.closest("[hidden]")) continue;
    let edge = width;
    for (let up = el.parentElement; up; up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if (overflow !== "visible") edge = Math.min(edge, up.getBoundingClientRect().right);
    }
    if (box.right > edge + 0.5 || box.left < -0.5) {
      clipped.push((el.getAttribute("aria-label") || el.textContent.trim()).slice(0, 60));
    }
  }
  if (document.documentElement.scrollWidth > width + 0.5) clipped.push("the page scrolls sideways");
  return clipped;
}"""

TEMPLATE_SYNTAX = ("{#", "#}", "{%", "%}", "{{", "}}")


# How a long name is shown: [the lines it takes on screen, the lines the
# whole name would take].
LINES = """el => {
  const shown = el.getBoundingClientRect().height;
  const lines = shown / parseFloat(getComputedStyle(el).lineHeight);
  const style = el.getAttribute("style");
  el.style.display = "block";
  el.style.webkitLineClamp = "unset";
  const whole = el.getBoundingClientRect().height;
  if (style === null) el.removeAttribute("style"); else el.setAttribute("style", style);
  return [Math.round(lines * 10) / 10, Math.round((whole / shown) * lines * 10) / 10];
}"""


def shown_shortened(element, screen: str) -> None:
    """At most two lines, ended by the ellipsis where the whole name needs more
    (at a phone's width it always does)."""
    shown, whole = element.evaluate(LINES)
    assert shown <= 2, (shown, whole)
    if screen == "phone":
        assert whole > shown, (shown, whole)


def check_page(page, where: str) -> None:
    """The checks every dashboard page passes, in every state and at every width."""
    problems = accessibility_problems(page)
    assert problems == [], f"{where}: {problems}"
    clipped = page.evaluate(CLIPPED)
    assert clipped == [], f"{where}: cut off: {clipped}"
    text = page.locator("body").inner_text()
    assert not [s for s in TEMPLATE_SYNTAX if s in text], f"{where}: template syntax shown"


def screenshot(page, name: str) -> None:
    """A picture of the page for the README, written by each run so it stays current."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, animations="disabled")
