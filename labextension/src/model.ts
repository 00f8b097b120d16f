// One poller shared by the sidebar and the status bar: every 5 s while the sidebar is
// visible, every 30 s otherwise (the burn meter stays roughly current), never while the
// browser tab is hidden.
import { ISignal, Signal } from '@lumino/signaling';

import { fetchState, IState } from './api';

const FAST_MS = 5000;
const SLOW_MS = 30000;

export class StateModel {
  state: IState | null = null;
  error: string | null = null;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  set fast(value: boolean) {
    if (value !== this._fast) {
      this._fast = value;
      if (value) {
        void this.refresh();
      } else {
        this._schedule();
      }
    }
  }

  async refresh(): Promise<void> {
    window.clearTimeout(this._timer);
    try {
      this.state = await fetchState();
      this.error = null;
    } catch (error) {
      this.error = String((error as Error).message || error).split('\n')[0];
    }
    this._changed.emit();
    this._schedule();
  }

  dispose(): void {
    window.clearTimeout(this._timer);
  }

  private _schedule(): void {
    window.clearTimeout(this._timer);
    const delay = this._fast ? FAST_MS : SLOW_MS;
    this._timer = window.setTimeout(() => {
      if (document.hidden) {
        this._schedule();
      } else {
        void this.refresh();
      }
    }, delay);
  }

  private _fast = false;
  private _timer = 0;
  private _changed = new Signal<this, void>(this);
}
