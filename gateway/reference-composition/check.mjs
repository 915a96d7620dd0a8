// Composes our subgraph SDLs (schema/subgraphs/*.graphql, routed by
// schema/subgraphs.json) with The Guild's @theguild/federation-composition and
// compares the result with our committed schema/supergraph.graphql, normalised: for
// every type its kind, the graphs that own it (with keys), and for every field its type,
// arguments, the graphs that resolve it and its @authenticated / @requiresScopes.
// Descriptions, other directives and the types of linked specs are left out. Exits 1 on any difference.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, print, Kind } from "graphql";
import { composeServices } from "@theguild/federation-composition";

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

function argument(directive, name) {
  const arg = directive.arguments?.find((a) => a.name.value === name);
  return arg ? print(arg.value) : undefined;
}

function directives(node, name) {
  return (node.directives ?? []).filter((d) => d.name.value === name);
}

function normalise(sdl) {
  const types = {};
  for (const definition of parse(sdl).definitions) {
    if (!definition.name || definition.kind === Kind.DIRECTIVE_DEFINITION) continue;
    const name = definition.name.value;
    // Types of linked specs (join__Graph, link__Purpose, requiresScopes__Scope) are
    // composition machinery, not the API.
    if (/^[A-Za-z]+__/.test(name) || name === "_Service" || name === "_Any" || name === "_Entity") continue;
    const graphs = directives(definition, "join__type").map((d) =>
      [argument(d, "graph"), argument(d, "key") ?? "", argument(d, "resolvable") ?? "true"].join(" "),
    );
    const typeGraphs = [...new Set(directives(definition, "join__type").map((d) => argument(d, "graph")))];
    const fields = {};
    for (const field of definition.fields ?? []) {
      const joins = directives(field, "join__field");
      const resolvedBy = joins.length
        ? joins.filter((d) => argument(d, "external") !== "true").map((d) => argument(d, "graph")).filter(Boolean)
        : typeGraphs;
      fields[field.name.value] = {
        type: print(field.type),
        args: (field.arguments ?? []).map((a) => `${a.name.value}: ${print(a.type)}${a.defaultValue ? ` = ${print(a.defaultValue)}` : ""}`).sort(),
        resolvedBy: [...new Set(resolvedBy)].sort(),
        // What the gateway's authorization enforces must compose the same way.
        authorization: ["authenticated", "requiresScopes"]
          .flatMap((name) => directives(field, name).map((d) => `@${name}${argument(d, "scopes") ?? ""}`))
          .sort(),
      };
    }
    types[name] = {
      kind: definition.kind,
      graphs: graphs.sort(),
      fields,
      values: (definition.values ?? []).map((v) => v.name.value).sort(),
      members: (definition.types ?? []).map((t) => t.name.value).sort(),
    };
  }
  return types;
}

function compare(reference, ours) {
  const differences = [];
  for (const name of new Set([...Object.keys(reference), ...Object.keys(ours)])) {
    const [a, b] = [reference[name], ours[name]];
    if (!a || !b) {
      differences.push(`type ${name} is ${a ? "missing from ours" : "only in ours"}`);
      continue;
    }
    for (const key of ["kind", "graphs", "values", "members"]) {
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
        differences.push(`${name}: ${key} ${JSON.stringify(a[key])} (reference) vs ${JSON.stringify(b[key])} (ours)`);
      }
    }
    for (const field of new Set([...Object.keys(a.fields), ...Object.keys(b.fields)])) {
      const [fa, fb] = [a.fields[field], b.fields[field]];
      if (JSON.stringify(fa) !== JSON.stringify(fb)) {
        differences.push(`${name}.${field}: ${JSON.stringify(fa)} (reference) vs ${JSON.stringify(fb)} (ours)`);
      }
    }
  }
  return differences;
}
