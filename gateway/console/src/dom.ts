// A few helpers to build the page without a framework.

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | EventListener | undefined>;

/** An element with attributes (`on…` are listeners) and children. */
export function h(tag: string, attributes: Attributes = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `parent` holds. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** An error as the console shows it: `CODE: message`, announced to screen readers. */
export function errorBox(text: string): HTMLElement {
  return h('div', { class: 'error', role: 'alert' }, text);
}

/** A time, short and local. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A duration in milliseconds, readable. */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A status as a badge, coloured by what it means. */
export function badge(status: string): HTMLElement {
  const tone =
    /^(READY|COMPLETED|PAID|DELIVERED|SHIPPED|REDRIVEN|CAPTURED)$/.test(status) ? 'good'
    : /^(STUCK|FAILED|DEAD|UNREACHABLE|NOT READY|CANCELED|DECLINED)$/.test(status) ? 'bad'
    : 'warn';
  return h('span', { class: `badge ${tone}`, 'data-status': status }, status);
}
