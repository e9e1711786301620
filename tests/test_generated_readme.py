"""The generated README shows the stack that was asked for, and its answers can be replayed.

The diagram, the security table and the cost table are rendered from the answers, so each is
checked against the variants that change them (other CIDRs and zones, another region and
port, three zones). The cost numbers are checked against the generated project's own price
table, `infra/costs.py`, run on the generated `stack.toml`: one source of numbers.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter
from helpers import TEMPLATE_ROOT, bake_ok, user_config
from variants import VARIANTS

ESTIMATE = """
import json
from infra.costs import monthly_estimate, total
from infra.stack_file import load
items = monthly_estimate(load())
print(json.dumps({"items": items, "total": total(items)}))
"""


def section(readme: str, heading: str) -> str:
    start = readme.index(f"\n## {heading}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def mermaid(readme: str) -> str:
    match = re.search(r"```mermaid\n(.*?)\n```", readme, re.DOTALL)
    assert match, "no mermaid block"
    return match.group(1)


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The rows of the Markdown table whose first header cell is `first_header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def check_mermaid_structure(diagram: str) -> None:
    """What a Mermaid flowchart parser would reject: unbalanced blocks, unknown nodes."""
    lines = [line.strip() for line in diagram.splitlines() if line.strip()]
    assert lines[0] == "flowchart TB"
    depth, defined, edges = 0, set(), []
    for line in lines[1:]:
        if line.startswith("subgraph "):
            depth += 1
            name = re.match(r"subgraph (\w+)\[\"[^\"]*\"\]$", line)
            assert name, f"subgraph without an id and a quoted title: {line}"
            assert name.group(1) not in defined, f"id used twice: {line}"
            defined.add(name.group(1))
        elif line == "end":
            depth -= 1
            assert depth >= 0, "end without subgraph"
        elif "-->" in line:
            edges.append(line)
        else:
            node = re.match(r"(\w+)(\(\(|\[\(|\[\")", line)
            assert node, f"not a node definition: {line}"
            assert node.group(1) not in defined, f"node defined twice: {line}"
            defined.add(node.group(1))
            assert line.count('"') % 2 == 0, f"unbalanced quotes: {line}"
    assert depth == 0, "a subgraph is not closed"
    for edge in edges:
        for node in re.sub(r'\|"[^"]*"\|', " ", edge).replace("-->", " ").split():
            assert node in defined, f"edge to an undefined node {node!r}: {edge}"


def baked_readme(result) -> str:
    return (Path(result.project_path) / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_diagram_and_the_security_table_show_the_answers(cookies, name):
    answers = VARIANTS[name]
    result = bake_ok(cookies, **answers)
    context, readme = result.context, baked_readme(result)
    diagram = mermaid(readme)
    check_mermaid_structure(diagram)

    public = context["public_subnet_cidrs"].split(",")
    private = context["private_subnet_cidrs"].split(",")
    zones = [zone for zone in context["availability_zones"].split(",") if zone]
    assert f'region["AWS region {context["aws_region"]}"]' in diagram
    assert f'vpc["VPC {context["vpc_cidr"]}"]' in diagram
    for index, (pub, priv) in enumerate(zip(public, private, strict=True)):
        assert f'pub{index}["public subnet {pub}"]' in diagram
        assert f'priv{index}["private subnet {priv}"]' in diagram
        zone = zones[index] if zones else f"AZ {index + 1} (picked at deploy time)"
        assert f'az{index}["{zone}"]' in diagram
        assert f'alb -->|"HTTP {context["app_port"]}"| app{index}' in diagram
    assert f"az{len(public)}" not in diagram
    assert diagram.count("[(") == 1, "one database node"
    assert f"({context['app_instance_type']})" in diagram
    assert f"({context['db_instance_class']})" in diagram

    check_nat(diagram, context["nat_gateway"], len(public))
    rows = table_rows(section(readme, "Architecture"), "Who")
    assert ["the load balancer", "the app instances", context["app_port"]] in rows
    assert ["the app instances", "the database", "5432"] in rows
    from_internet = ["anyone on the internet", "the load balancer"]
    internet = [row[2] for row in rows if row[:2] == from_internet]
    if context["domain_name"]:
        assert internet == ["443", "80, answered only with a redirect to 443"]
        assert '"HTTPS 443 (HTTP 80 redirects)"' in diagram
        assert f"https://{context['domain_name']}" in section(readme, "Architecture")
    else:
        assert internet == ["80"]
        assert "443" not in diagram


def check_nat(diagram: str, nat_gateway: str, zones: int) -> None:
    """Where the app instances sit, and which NAT gateway each one goes out through."""
    parent = subgraph_of_each_node(diagram)
    gateways = sorted(node for node in parent if node.startswith("nat"))
    expected = {"none": [], "single": ["nat0"], "per_az": [f"nat{i}" for i in range(zones)]}
    assert gateways == expected[nat_gateway]
    for gateway in gateways:
        assert parent[gateway] == f"pub{gateway.removeprefix('nat')}"
        assert f"{gateway} --> igw" in diagram
    for index in range(zones):
        tier = "pub" if nat_gateway == "none" else "priv"
        assert parent[f"app{index}"] == f"{tier}{index}"
        if nat_gateway != "none":
            way_out = index if nat_gateway == "per_az" else 0
            assert f'app{index} -->|"images, AWS APIs"| nat{way_out}' in diagram


def subgraph_of_each_node(diagram: str) -> dict[str, str]:
    open_subgraphs, parent = [], {}
    for line in (line.strip() for line in diagram.splitlines()):
        if line.startswith("subgraph "):
            open_subgraphs.append(line.split()[1].split("[")[0])
        elif line == "end":
            open_subgraphs.pop()
        elif "-->" not in line and (node := re.match(r"(\w+)[\[(]", line)):
            parent[node.group(1)] = open_subgraphs[-1] if open_subgraphs else ""
    return parent


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_cost_table_lists_what_plan_prints_with_its_numbers(cookies, name):
    result = bake_ok(cookies, **VARIANTS[name])
    project = Path(result.project_path)
    estimate = json.loads(
        subprocess.run(
            [sys.executable, "-c", ESTIMATE],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    cost_text = section(baked_readme(result), "What it costs")
    assert "<!--" not in cost_text, "the hook left the marker"
    rows = table_rows(cost_text, "Item, as `plan` prints it")
    priced = [row for row in rows if not row[0].startswith("**")]
    assert [row[0] for row in priced] == [item for item, _, _ in estimate["items"]]
    shown = [None if row[1] == "unknown" else float(row[1]) for row in priced]
    assert shown == [amount for _, amount, _ in estimate["items"]]
    if any(amount is not None for amount in shown):
        assert rows[-1][1] == f"**{estimate['total']:.2f}**"
        region = result.context["aws_region"]
        assert f"about **${estimate['total']:.0f} per month** in {region}" in cost_text


def answers_file(result) -> dict:
    return json.loads((Path(result.project_path) / ".cookiecutter.json").read_text())


def test_the_answers_file_holds_the_answers_and_no_private_keys(cookies):
    result = bake_ok(cookies, **VARIANTS["other-region-and-cidrs"])
    answers = answers_file(result)
    assert list(answers) == ["cookiecutter"]
    saved = answers["cookiecutter"]
    assert not [key for key in saved if key.startswith("_")]
    assert str(TEMPLATE_ROOT) not in json.dumps(saved)
    public = {key: value for key, value in result.context.items() if not key.startswith("_")}
    assert saved == public


def test_the_answers_file_bakes_the_same_stack_again(cookies):
    first = bake_ok(cookies, **VARIANTS["three-azs"])
    again = bake_ok(cookies, **answers_file(first)["cookiecutter"])
    for name in ("stack.toml", "README.md", ".cookiecutter.json"):
        assert (Path(again.project_path) / name).read_text() == (
            Path(first.project_path) / name
        ).read_text(), name


def test_cookiecutter_replay_file_accepts_the_answers_file(cookies, tmp_path):
    first = bake_ok(cookies, **VARIANTS["other-region-and-cidrs"])
    output = tmp_path / "regenerated"
    project = cookiecutter(
        str(TEMPLATE_ROOT),
        replay=str(Path(first.project_path) / ".cookiecutter.json"),
        output_dir=str(output),
        config_file=str(user_config(tmp_path)),
    )
    assert (Path(project) / "stack.toml").read_text() == (
        Path(first.project_path) / "stack.toml"
    ).read_text()
