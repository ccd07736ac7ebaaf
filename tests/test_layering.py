"""The layering the project's design rests on, read from the imports of bot/, handlers/ and schedules/.

bot/ is the domain and imports neither the Bolt listeners nor the scheduler wiring (only bot/__main__.py, the
CLI that wires everything, does); features take a Runtime, never the Coach facade; a package uses another's
public names only; the shared base (Slack, storage, timestamps) knows no feature."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FEATURES = (
    "bot.deals",
    "bot.nudges",
    "bot.digest",
    "bot.home",
    "bot.playbook",
    "bot.stats",
    "bot.health",
    "bot.signals",
    "bot.manage",
    "bot.report",
)
BASE = ("bot.slack", "bot.storage", "bot.timestamps")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. bot.nudges.dispatch
    target: str  # the module imported from, e.g. bot.deals.model
    name: str | None  # the name taken from it (`from target import name`), or None for `import target`
    line: int

    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}" + (f".{self.name}" if self.name else "")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[Import]:
    """Every import in the file, at the top or inside a function, relative ones resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, target] if target else base)
            found += [Import(module, target, alias.name, node.lineno) for alias in node.names]
    return found


def private_attributes(path: Path, source: str | None = None) -> list[str]:
    """`alias._name` where `alias` is a module imported from another package."""
    module = module_name(path)
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.partition(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and is_private(node.attr):
            target = aliases.get(node.value.id)
            if target and owner(target) != owner(module):
                found.append(f"{module}:{node.lineno} uses {target}.{node.attr}")
    return found


def sources() -> list[Path]:
    return sorted(p for top in ("bot", "handlers", "schedules") for p in (ROOT / top).rglob("*.py"))


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def owner(module: str) -> str:
    """The package a module belongs to: bot's feature or base package (bot.deals, bot.slack, bot.stats...), or
    the top-level one (handlers, schedules)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" else parts[0]


def bot_into_outer_layers(imports: list[Import]) -> list[str]:
    return [
        i.where()
        for i in imports
        if owner(i.module).startswith("bot")
        and i.module != "bot.__main__"
        and within(i.target, ("handlers", "schedules"))
    ]


def features_into_facade(imports: list[Import]) -> list[str]:
    return [
        i.where()
        for i in imports
        if within(i.module, FEATURES) and (within(i.target, ("bot.coach",)) or (i.target, i.name) == ("bot", "coach"))
    ]


def base_into_features(imports: list[Import]) -> list[str]:
    return [i.where() for i in imports if within(i.module, BASE) and within(i.target, FEATURES)]


def private_names_across(imports: list[Import]) -> list[str]:
    return [i.where() for i in imports if i.name and is_private(i.name) and owner(i.target) != owner(i.module)]


ALL = [i for path in sources() for i in imports_of(path)]


def test_the_sources_are_read():
    """The checks below see what they claim to: every layer, and imports inside functions too."""
    modules = {i.module for i in ALL}
    assert {"bot.nudges.dispatch", "bot.storage.store", "handlers.replies", "schedules.jobs"} <= modules
    assert any(i.module == "bot.__main__" and within(i.target, ("handlers", "schedules")) for i in ALL)
    assert any(within(i.target, FEATURES) for i in ALL if i.module.startswith("handlers"))


def test_bot_imports_neither_handlers_nor_schedules():
    assert bot_into_outer_layers(ALL) == []


def test_features_never_import_the_coach_facade():
    assert features_into_facade(ALL) == []


def test_the_shared_base_imports_no_feature():
    assert base_into_features(ALL) == []


def test_no_package_takes_another_packages_private_names():
    assert private_names_across(ALL) == []
    assert [use for path in sources() for use in private_attributes(path)] == []


@pytest.mark.parametrize(
    ("module", "target", "name", "rule"),
    [
        ("bot.deals.service", "handlers.replies", "plain", bot_into_outer_layers),
        ("bot.stats", "schedules.jobs", None, bot_into_outer_layers),
        ("bot.nudges.dispatch", "bot.coach", "Coach", features_into_facade),
        ("bot.stats", "bot", "coach", features_into_facade),
        ("bot.slack.posting", "bot.deals.model", "Deal", base_into_features),
        ("bot.timestamps", "bot.stats", "OPEN", base_into_features),
        ("bot.home.view", "bot.deals.model", "_plan", private_names_across),
        ("handlers.deals", "bot.deals.service", "_captured", private_names_across),
    ],
)
def test_each_rule_catches_a_breach(module, target, name, rule):
    """Each check names the import it forbids (and so can fail), and lets the same import pass where it belongs."""
    assert rule([Import(module, target, name, 1)]) != []
    assert (
        rule([Import("bot.__main__" if rule is bot_into_outer_layers else owner(target) + ".x", target, name, 1)]) == []
    )


def test_a_private_attribute_of_another_packages_module_is_caught():
    path = ROOT / "bot" / "home" / "probe.py"
    assert private_attributes(path, "from bot.deals import model\nmodel._plan\n") != []
    assert private_attributes(path, "from bot.home import view\nview._deals_by_id\n") == []
