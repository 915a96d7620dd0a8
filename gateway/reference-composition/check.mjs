// Composes our subgraph SDLs (schema/subgraphs/*.graphql, routed by
// schema/subgraphs.json) with The Guild's @theguild/federation-composition and
// compares the result with our committed schema/supergraph.graphql, normalised: for
// every type its kind, the graphs that own it (with keys), and for every field its type,
// arguments, the graphs that resolve it and its @authenticated / @requiresScopes.
// Descriptions, other directives and the types of linked specs are left out. Exits 1 on any difference.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "graphql";
import { composeServices } from "@theguild/federation-composition";
import { normalise, compare } from "./normalise.mjs";

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), "../../schema");
const urls = JSON.parse(readFileSync(join(schemaDir, "subgraphs.json"), "utf8"));
const services = Object.entries(urls).map(([name, url]) => ({
  name,
  url,
  typeDefs: parse(readFileSync(join(schemaDir, "subgraphs", `${name}.graphql`), "utf8")),
}));

const result = composeServices(services);
if (result.errors?.length) {
  console.error("the reference composer refuses our subgraphs:");
  for (const error of result.errors) console.error(`- ${error.message}`);
  process.exit(1);
}

const ours = readFileSync(join(schemaDir, "supergraph.graphql"), "utf8");
const differences = compare(normalise(result.supergraphSdl), normalise(ours));
if (differences.length) {
  console.error(`our supergraph differs from the reference composition in ${differences.length} place(s):`);
  for (const difference of differences) console.error(`- ${difference}`);
  process.exit(1);
}
console.log(`reference composition agrees with schema/supergraph.graphql (${services.length} subgraphs)`);
