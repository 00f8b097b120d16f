// One poller shared by the sidebar and the status bar: every 5 s while the sidebar is
// visible, every 30 s otherwise (the burn meter stays roughly current), never while the
// browser tab is hidden.
import { ISignal, Signal } from '@lumino/signaling';

import { fetchGpu, fetchState, IGpu, IState } from './api';

const FAST_MS = 5000;
const SLOW_MS = 30000;

export class StateModel {
  state: IState | null = null;
  error: string | null = null;
  // GPU figures by instance id: asked for only while the sidebar is shown (the server then
  // samples over SSH, at most every 3 s per instance), cleared when it is hidden.
  gpu = new Map<string, IGpu>();

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
      if (this._fast && this.state.instances.some(i => i.status === 'running')) {
        try {
          this.gpu = new Map((await fetchGpu()).map(g => [g.instance_id, g]));
        } catch {
          this.gpu = new Map(); // no figures is not an error worth a line
        }
      } else {
        this.gpu = new Map();
      }
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
