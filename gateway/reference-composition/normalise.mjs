// Supergraphs normalised for comparison: for every type its kind, the graphs that
// own it (with keys), and for every field its type, arguments, the graphs that
// resolve it and its @authenticated / @requiresScopes. Descriptions, other directives
// and the types of linked specs are left out. Used by check.mjs and audit.mjs.
import { parse, print, Kind } from "graphql";

function argument(directive, name) {
  const arg = directive.arguments?.find((a) => a.name.value === name);
  return arg ? print(arg.value) : undefined;
}

// A field set with its spacing made canonical: "a{b c}" and "a { b c }" are one key.
function fieldSet(printed) {
  return printed.replace(/\s*([{}])\s*/g, " $1 ").replace(/\s+/g, " ").replace(/" | "/g, '"').trim();
}

function directives(node, name) {
  return (node.directives ?? []).filter((d) => d.name.value === name);
}

export function normalise(sdl) {
  const types = {};
  for (const definition of parse(sdl).definitions) {
    if (!definition.name || definition.kind === Kind.DIRECTIVE_DEFINITION) continue;
    const name = definition.name.value;
    // Types of linked specs (join__Graph, link__Purpose, requiresScopes__Scope) are
    // composition machinery, not the API.
    if (/^[A-Za-z]+__/.test(name) || name === "_Service" || name === "_Any" || name === "_Entity") continue;
    const graphs = directives(definition, "join__type").map((d) =>
      [argument(d, "graph"), fieldSet(argument(d, "key") ?? ""), argument(d, "resolvable") ?? "true"].join(" "),
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

export function compare(reference, ours) {
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
