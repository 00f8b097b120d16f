// The status bar's burn meter: "Spheron: $X.XX/h"; a click opens the sidebar.
import { Widget } from '@lumino/widgets';

import { endsText, toEpoch } from './api';
import { StateModel } from './model';

export class BurnMeter extends Widget {
  constructor(model: StateModel, onClick: () => void) {
    super();
    this._model = model;
    this.addClass('spheron-burn');
    this.node.addEventListener('click', onClick);
    model.changed.connect(this.render, this);
    this.render();
  }

  render(): void {
    const state = this._model.state;
    // Nothing known or nothing in the ledger: no meter at all.
    if (!state || state.instances.length === 0) {
      this.node.style.display = 'none';
      this.node.textContent = '';
      this.node.title = '';
      return;
    }
    this.node.style.display = '';
    this.node.textContent = `Spheron: ${state.burn_text}/h`;
    const now = toEpoch(state.now) ?? Date.now() / 1000;
    // Each instance's lifecycle as the sidebar says it: status, money, and what ends it when.
    const lines = state.instances.map(i => {
      const ends = endsText(i, now);
      const money = `${i.hourly_rate_text}/h, ${i.cost_so_far_text} so far`;
      return `${i.name || i.id}: ${i.status || 'unknown'}, ${money}${ends ? `; ${ends}` : ''}`;
    });
    this.node.title = lines.join('\n');
  }

  private _model: StateModel;
}
