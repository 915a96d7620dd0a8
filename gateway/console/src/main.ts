// The operations console: sign-in, then the platform's health, the checkouts and dead
// letters that wait for staff, orders with their live timeline, and webhooks.

import './console.css';
import { must } from './api';
import { h, replace, errorBox } from './dom';
import { name, signedIn, signOut, token, whenSignedOut, type Page } from './session';
import { healthPage } from './pages/health';
import { checkoutsPage } from './pages/checkouts';
import { deadLettersPage } from './pages/dead_letters';
import { ordersPage, orderPage } from './pages/orders';
import { webhooksPage } from './pages/webhooks';

const app = document.getElementById('app')!;
let leaving: (() => void)[] = [];

function signInPage(): HTMLElement {
  const message = h('div');
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true }) as HTMLInputElement;
  const password = h('input', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
  }) as HTMLInputElement;
  const form = h(
    'form',
    { class: 'sign-in', 'aria-label': 'Sign in' },
    h('h1', {}, 'Operations console'),
    h('p', {}, 'For the shop’s staff.'),
    h('label', {}, 'E-mail', email),
    h('label', {}, 'Password', password),
    h('button', { type: 'submit' }, 'Sign in'),
    message,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(message);
    try {
      type Login = { login: { token: string; user: { displayName: string; role: string } } };
      const { login } = await must<Login>('ConsoleLogin', { email: email.value, password: password.value }, null);
      if (login.user.role !== 'ADMIN') {
        replace(message, errorBox('FORBIDDEN: the console is for staff (ADMIN) only'));
        return;
      }
      signedIn(login.token, login.user.displayName);
      render();
    } catch (err) {
      replace(message, errorBox(String(err)));
    }
  });
  return form;
}

const PAGES: [string, string][] = [
  ['#/', 'Health'],
  ['#/checkouts', 'Checkouts'],
  ['#/dead-letters', 'Dead letters'],
  ['#/orders', 'Orders'],
  ['#/webhooks', 'Webhooks'],
];

function render(): void {
  for (const stop of leaving) stop();
  leaving = [];
  const current = token();
  if (!current) {
    replace(app, signInPage());
    return;
  }
  const route = location.hash || '#/';
  const nav = h(
    'nav',
    {},
    h('strong', {}, 'Operations'),
    ...PAGES.map(([href, label]) =>
      h('a', { href, 'aria-current': (route === href || (href !== '#/' && route.startsWith(href))) && 'page' }, label),
    ),
    h('span', { class: 'who' }, name()),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'),
  );
  const main = h('main');
  replace(app, nav, main);
  const page: Page = { token: current, onLeave: (stop) => leaving.push(stop) };
  const order = /^#\/orders\/([^/]+)$/.exec(route);
  const view =
    order ? orderPage(page, decodeURIComponent(order[1]))
    : route.startsWith('#/checkouts') ? checkoutsPage(page)
    : route === '#/dead-letters' ? deadLettersPage(page)
    : route === '#/orders' ? ordersPage(page)
    : route === '#/webhooks' ? webhooksPage(page)
    : healthPage(page);
  replace(main, view);
}

whenSignedOut(() => {
  location.hash = '#/';
  render();
});
window.addEventListener('hashchange', render);
render();
