"""What every page and every htmx state must pass in the browser: no horizontal scroll, and no
serious or critical axe-core violation.

axe-core is vendored (tests/browser/vendor/axe.min.js, see vendor/README.md), never fetched. The
page's CSP refuses an injected <script> (page.add_script_tag), so the source is evaluated through
the DevTools protocol (page.evaluate), which CSP does not govern; it runs in the page's own
world, where the page's DOM and htmx are.
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")

# Every violation not blocking (impact "moderate" or "minor") seen in this run, by rule id:
# printed at the end of the session (conftest) so the report can list them.
seen_minor: dict[str, set[str]] = {}

_RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    resultTypes: ["violations"],
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + (n.failureSummary ? " — " +
        n.failureSummary.split("\\n").slice(1, 2).join("").trim() : "")),
  }));
}"""

_OVERFLOW = """() => {
  const width = window.innerWidth;
  // A region that scrolls sideways inside the page hides its end (a table's actions) too.
  const scrolled = [...document.body.querySelectorAll("*")].filter(el =>
      ["auto", "scroll"].includes(getComputedStyle(el).overflowX) &&
      el.scrollWidth > el.clientWidth + 1);
  if (scrolled.length) return {
    scrollWidth: scrolled[0].scrollWidth, width: scrolled[0].clientWidth,
    culprits: scrolled.slice(0, 3).map(el => "a scrolling " + el.tagName + "." + el.className),
  };
  if (document.documentElement.scrollWidth <= width) return null;
  // The innermost elements that stick out, to say where the problem is.
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 0.5 && box.width > 0 &&
        ![...el.children].some(c => c.getBoundingClientRect().right > width + 0.5)) {
      let name = el.tagName.toLowerCase();
      if (el.id) name += "#" + el.id;
      if (el.className && typeof el.className === "string")
        name += "." + el.className.trim().split(/\\s+/).join(".");
      out.push(name + " (right edge " + Math.round(box.right) + ")");
      if (out.length >= 5) break;
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, culprits: out};
}"""


def axe_problems(page, where: str) -> list[str]:
    """Serious and critical axe-core violations on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    problems = []
    for violation in page.evaluate(_RUN_AXE):
        if violation["impact"] in BLOCKING:
            problems.append(
                f"{where}: axe {violation['impact']} {violation['id']} ({violation['help']}): "
                + "; ".join(violation["nodes"])
            )
        else:
            seen_minor.setdefault(f"{violation['impact']} {violation['id']}", set()).add(where)
    return problems


def overflow_problem(page, where: str) -> list[str]:
    """[] when the page has no horizontal scroll at the current viewport width."""
    found = page.evaluate(_OVERFLOW)
    if not found:
        return []
    return [
        f"{where}: scrolls sideways ({found['scrollWidth']} px wide in {found['width']} px): "
        + ", ".join(found["culprits"])
    ]
