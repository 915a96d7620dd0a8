// Our composition against the federation gateway audit's: for every suite of a
// running audit server (graphql-hive/federation-gateway-audit, `npm start -- serve`,
// fetched and run beside the project, never committed), composes the suite's
// subgraphs with our `gateway compose` and compares the result, normalised as in
// check.mjs, with the supergraph the audit serves for the suite (composed by
// @apollo/composition). Prints one Markdown table row per suite.
//
// Usage: GATEWAY=<target>/debug/gateway node audit.mjs [http://localhost:4200]
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { normalise, compare } from "./normalise.mjs";

const audit = process.argv[2] ?? "http://localhost:4200";
const gateway = process.env.GATEWAY ?? "gateway";
const work = join(tmpdir(), `audit-composition-${process.pid}`);

const ids = await (await fetch(`${audit}/ids`)).json();
let agreeing = 0;
const rows = [];
for (const id of ids) {
  const subgraphs = await (await fetch(`${audit}/${id}/subgraphs`)).json();
  const reference = await (await fetch(`${audit}/${id}/supergraph`)).text();
  const dir = join(work, id);
  mkdirSync(dir, { recursive: true });
  const urls = {};
  for (const { name, url, sdl } of subgraphs) {
    writeFileSync(join(dir, `${name}.graphql`), sdl);
    urls[name] = url;
  }
  writeFileSync(join(dir, "subgraphs.json"), JSON.stringify(urls));
  const out = join(dir, "supergraph.graphql");
  let result;
  try {
    execFileSync(gateway, ["compose", "--subgraphs", dir, "--urls", join(dir, "subgraphs.json"), "--out", out], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const differences = compare(normalise(reference), normalise(readFileSync(out, "utf8")));
    if (differences.length === 0) {
      agreeing += 1;
      result = "agrees";
    } else {
      result = `${differences.length} difference(s): ${differences.slice(0, 3).join("; ")}`;
    }
  } catch (error) {
    const message = String(error.stderr ?? error.message).split("\n").filter(Boolean).slice(0, 3).join(" ");
    result = `ours refuses: ${message}`;
  }
  rows.push(`| ${id} | ${subgraphs.length} | ${result.replaceAll("|", "\\|")} |`);
}
console.log("| suite | subgraphs | our composition |");
console.log("| --- | --- | --- |");
for (const row of rows) console.log(row);
console.log(`\n${agreeing} / ${ids.length} suites agree`);
