// JupyterLab notifications for what a researcher must not miss: SSH ready, a lease or scheduled
// termination ending within 10 minutes, an instance that ended (or was reclaimed), the budget
// crossed. Each fires once: the keys already shown are kept in this browser's localStorage, so
// a reload does not repeat them. The facts are the sidebar's own state, so they agree with it.
import { Notification } from '@jupyterlab/apputils';

import { IState } from './api';
import { StateModel } from './model';

const STORE = 'spheron-jupyter:notified';
const KEEP = 500; // keys remembered; older ones are dropped

export class Notifier {
  constructor(model: StateModel) {
    this._seen = new Set(load());
    model.changed.connect(() => model.state && this.check(model.state), this);
  }

  check(state: IState): void {
    for (const i of state.instances) {
      const name = i.name || i.id;
      if (i.ssh_ready && i.status === 'running') {
        this._once(`ssh:${i.id}`, () =>
          Notification.success(`Spheron: ${name} is running and SSH is ready`, { autoClose: 8000 })
        );
      }
      if (i.ending_soon && i.ends_at) {
        this._once(`ending:${i.id}:${Math.round(i.ends_at)}`, () =>
          Notification.warning(`Spheron: ${name}: ${i.ends_text}. Extend it with %spheron lease ${name} +1h`, {
            autoClose: false
          })
        );
      }
      if (state.budget_usd && i.cost_so_far !== null && i.cost_so_far > state.budget_usd) {
        this._once(`budget:${i.id}`, () =>
          Notification.warning(
            `Spheron: ${name} has cost ${i.cost_so_far_text}, over your budget of ${state.budget_text} per launch`,
            { autoClose: false }
          )
        );
      }
    }
    for (const e of state.ended || []) {
      const name = e.name || e.id;
      const reclaimed = /reclaim|provider/.test(e.status || '');
      this._once(`ended:${e.id}`, () =>
        Notification.info(
          reclaimed
            ? `Spheron: ${name} was reclaimed by its provider (${e.status}); it no longer bills`
            : `Spheron: ${name} ended (${e.status || 'terminated'}); it no longer bills`,
          { autoClose: 10000 }
        )
      );
    }
  }

  private _once(key: string, show: () => void): void {
    if (this._seen.has(key)) {
      return;
    }
    this._seen.add(key);
    save([...this._seen].slice(-KEEP));
    show();
  }

  private _seen: Set<string>;
}

function load(): string[] {
  try {
    return JSON.parse(window.localStorage.getItem(STORE) || '[]') as string[];
  } catch {
    return [];
  }
}

function save(keys: string[]): void {
  try {
    window.localStorage.setItem(STORE, JSON.stringify(keys));
  } catch {
    // private mode or full storage: at worst a notification repeats after a reload
  }
}
