// Orders, newest first (Search's read model), and one order's timeline, followed live.

import { subscribe } from '../api';
import { badge, errorBox, h, replace, when } from '../dom';
import { ask, errorsOf, type Page } from '../session';

interface Summary {
  orderId: string;
  status: string;
  placedAt: string;
  itemCount: number;
  total: { formatted: string };
}

interface Order {
  id: string;
  status: string;
  userId: string;
  checkoutId: string | null;
  createdAt: string;
  updatedAt: string;
  total: { formatted: string };
  statusHistory: { from: string | null; to: string; reason: string; at: string }[];
  payment: { id: string; status: string; method: string; amount: { formatted: string } } | null;
  shipment: { id: string; status: string; carrier: string; trackingNumber: string } | null;
}

interface OrderUpdate {
  orderStatusChanged: { eventId: string; from: string | null; to: string; reason: string; occurredAt: string; traceId: string };
}

export function ordersPage(page: Page): HTMLElement {
  const body = h('div', {}, 'Loading…');
  const refresh = async () => {
    try {
      const { data, errors } = await ask<{ orderSummaries: Summary[] | null }>(page, 'ConsoleOrders', { first: 50 });
      const orders = data?.orderSummaries ?? [];
      replace(
        body,
        errorsOf(errors),
        orders.length
          ? h(
              'table',
              {},
              h('thead', {}, h('tr', {}, ...['Order', 'Status', 'Placed', 'Items', 'Total'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                {},
                ...orders.map((o) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, h('a', { href: `#/orders/${encodeURIComponent(o.orderId)}` }, h('code', {}, o.orderId))),
                    h('td', {}, badge(o.status)),
                    h('td', {}, when(o.placedAt)),
                    h('td', { class: 'number' }, o.itemCount),
                    h('td', { class: 'number' }, o.total.formatted),
                  ),
                ),
              ),
            )
          : h('p', { class: 'empty' }, 'No orders yet.'),
      );
    } catch (err) {
      replace(body, errorBox(String(err)));
    }
  };
  void refresh();
  const timer = window.setInterval(refresh, 10_000);
  page.onLeave(() => window.clearInterval(timer));
  return h('section', { 'aria-labelledby': 'orders-title' }, h('h1', { id: 'orders-title' }, 'Orders'), body);
}

export function orderPage(page: Page, id: string): HTMLElement {
  const body = h('div', {}, 'Loading…');
  const status = h('span', { class: 'order-status' });
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Timeline' });
  const live = h('p', { class: 'live-state' }, 'Following live…');
  void (async () => {
    try {
      const { data, errors } = await ask<{ order: Order | null }>(page, 'ConsoleOrder', { id });
      const order = data?.order;
      if (!order) {
        replace(body, errorsOf(errors) ?? errorBox('NOT_FOUND: no order by this id'));
        return;
      }
      replace(status, badge(order.status));
      for (const change of order.statusHistory) {
        timeline.append(h('li', { 'data-to': change.to }, `${when(change.at)}: ${change.from ?? '—'} → ${change.to}`, change.reason ? ` (${change.reason})` : ''));
      }
      replace(
        body,
        errorsOf(errors),
        h(
          'dl',
          {},
          h('dt', {}, 'Status'),
          h('dd', {}, status),
          h('dt', {}, 'Customer'),
          h('dd', {}, h('code', {}, order.userId)),
          h('dt', {}, 'Checkout'),
          h('dd', {}, order.checkoutId ? h('code', {}, order.checkoutId) : '—'),
          h('dt', {}, 'Total'),
          h('dd', {}, order.total.formatted),
          h('dt', {}, 'Payment'),
          h('dd', {}, order.payment ? [badge(order.payment.status), ` ${order.payment.method} ${order.payment.amount.formatted}`].reduce(join, h('span')) : '—'),
          h('dt', {}, 'Shipment'),
          h('dd', {}, order.shipment ? [badge(order.shipment.status), ` ${order.shipment.carrier} ${order.shipment.trackingNumber}`].reduce(join, h('span')) : '—'),
        ),
        h('h2', {}, 'Timeline'),
        timeline,
        live,
      );
    } catch (err) {
      replace(body, errorBox(String(err)));
    }
  })();
  const stop = subscribe<OrderUpdate>(
    'ConsoleOrderUpdates',
    { orderId: id },
    page.token,
    ({ orderStatusChanged: u }) => {
      replace(status, badge(u.to));
      timeline.append(
        h('li', { 'data-to': u.to, class: 'new' }, `${when(u.occurredAt)}: ${u.from ?? '—'} → ${u.to}`, u.reason ? ` (${u.reason})` : '', h('small', {}, ` trace ${u.traceId}`)),
      );
    },
    (message) => replace(live, errorBox(message)),
  );
  page.onLeave(stop);
  return h('section', { 'aria-labelledby': 'order-title' }, h('h1', { id: 'order-title' }, 'Order ', h('code', {}, id)), body);
}

function join(parent: HTMLElement, child: Node | string): HTMLElement {
  parent.append(child);
  return parent;
}
