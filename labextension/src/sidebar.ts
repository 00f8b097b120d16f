// The "Spheron" left sidebar: instances from the ledger (a Kernel button each, kernel.ts),
// their tunnels, an Open button each.
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { endsText, IInstance, ITunnel, proxyUrl, toEpoch } from './api';
import { spheronIcon } from './icon';
import { KernelButtons } from './kernel';
import { LifecycleButtons } from './lifecycle';
import { StateModel } from './model';
import { TunnelTabs } from './tabs';

export const EMPTY_TEXT = 'No instances. Launch one with %spheron launch --gpu h100';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export class SpheronSidebar extends Widget {
  constructor(model: StateModel, tabs: TunnelTabs, kernels: KernelButtons, inLab = true) {
    super();
    this._model = model;
    this._tabs = tabs;
    this._kernels = kernels;
    this._lifecycle = new LifecycleButtons(model);
    this._inLab = inLab;
    this.id = 'spheron-sidebar';
    this.addClass('spheron-sidebar');
    this.title.icon = spheronIcon;
    this.title.caption = 'Spheron: instances and tunnels';

    const header = el('div', 'spheron-sidebar-header');
    header.appendChild(el('span', 'spheron-sidebar-title', 'Spheron'));
    const refresh = el('button', 'spheron-sidebar-refresh jp-Button');
    refresh.title = 'Refresh';
    refresh.appendChild(refreshIcon.element({ tag: 'span' }));
    refresh.addEventListener('click', () => void this._model.refresh());
    header.appendChild(refresh);
    this._summary = el('div', 'spheron-sidebar-summary');
    this._error = el('div', 'spheron-sidebar-error');
    this._list = el('div', 'spheron-sidebar-list');
    this.node.append(header, this._summary, this._error, this._list);

    model.changed.connect(this.render, this);
    this.render();
  }

  protected onAfterShow(msg: Message): void {
    this._model.fast = true;
  }

  protected onAfterHide(msg: Message): void {
    this._model.fast = false;
  }

  render(): void {
    const { state, error } = this._model;
    this._error.textContent = error ? `Could not refresh: ${error}` : '';
    this._error.style.display = error ? '' : 'none';
    if (!state) {
      this._summary.textContent = error ? '' : 'Loading...';
      return;
    }
    this._summary.textContent = `Burning ${state.burn_text}/h`;
    this._list.replaceChildren();
    if (state.instances.length === 0) {
      this._list.appendChild(el('div', 'spheron-sidebar-empty', EMPTY_TEXT));
      return;
    }
    const now = toEpoch(state.now) ?? Date.now() / 1000;
    for (const instance of state.instances) {
      this._list.appendChild(this._instanceRow(instance, now));
      for (const tunnel of state.tunnels.filter(t => t.instance_id === instance.id)) {
        this._list.appendChild(this._tunnelRow(tunnel));
      }
    }
    // A tunnel shows only under an instance the state lists: an ended instance's tunnels go
    // with it (the server drops them too), never under another instance.
  }

  private _instanceRow(instance: IInstance, now: number): HTMLElement {
    const row = el('div', 'spheron-sidebar-instance');
    row.dataset.instanceId = instance.id;
    const status = instance.status || 'unknown';
    row.dataset.status = status;
    const top = el('div', 'spheron-sidebar-line');
    top.appendChild(el('span', 'spheron-sidebar-name', instance.name || instance.id));
    top.appendChild(el('span', `spheron-sidebar-status spheron-status-${status}`, status));
    row.appendChild(top);
    const parts = [
      `${instance.hourly_rate_text}/h`,
      `${instance.cost_so_far_text} so far`
    ];
    row.appendChild(el('div', 'spheron-sidebar-detail', parts.join(' · ')));
    // What ends it and when (spheron_jupyter/ledger/lifecycle.py), or that nothing will.
    const ends = el('div', 'spheron-sidebar-ends', endsText(instance, now));
    ends.classList.toggle('spheron-ending-soon', !!(instance.ends_at && instance.ending_soon));
    row.appendChild(ends);
    const gpu = this._model.gpu.get(instance.id);
    if (gpu && status === 'running') {
      const line = el('div', 'spheron-sidebar-gpu', gpu.error ? `GPU: ${gpu.error}` : `GPU ${gpu.summary}`);
      line.title = 'utilisation · memory used/total · temperature · recent utilisation';
      row.appendChild(line);
      if (gpu.idle_warning) {
        row.appendChild(el('div', 'spheron-sidebar-gpu-idle', gpu.idle_warning));
      }
    }
    const actions = el('div', 'spheron-sidebar-actions');
    if (status === 'running' || instance.kernel) {
      // a kernelspec outlives a stop: its Remove button stays reachable
      actions.appendChild(this._kernels.render(instance));
    }
    // The state lists only instances that bill (any status but an ending one, stopped too),
    // and each can be extended, have its end cancelled, or be terminated.
    actions.appendChild(this._lifecycle.render(instance));
    row.appendChild(actions);
    row.title = `${instance.id} (${instance.backend}, ${instance.api_url})`;
    return row;
  }

  private _tunnelRow(tunnel: ITunnel): HTMLElement {
    const row = el('div', 'spheron-sidebar-tunnel');
    row.dataset.tunnelId = tunnel.id;
    row.dataset.instanceId = tunnel.instance_id;
    const info = el('div', 'spheron-sidebar-tunnel-info');
    info.appendChild(el('div', 'spheron-sidebar-kind', tunnel.kind));
    const remote = tunnel.remote_port === null ? '?' : String(tunnel.remote_port);
    const ports = `127.0.0.1:${tunnel.local_port} -> ${remote}`;
    info.appendChild(el('div', 'spheron-sidebar-ports', ports));
    info.title = ports;
    row.appendChild(info);
    if (!this._inLab && tunnel.kind === 'jupyter') {
      // Notebook 7 has no tab for tabs.ts's notice, and a browser tab on the proxy would hold
      // a remote JupyterLab in the sandbox it cannot run in: no Open, the way in instead.
      const where = tunnel.instance_name || tunnel.instance_id;
      info.appendChild(
        el(
          'div',
          'spheron-sidebar-tunnel-note',
          `opens in its own browser tab: %spheron jupyter ${where} shows its link`
        )
      );
      return row;
    }
    const open = el('button', 'spheron-sidebar-open jp-Button jp-mod-styled jp-mod-accept', 'Open');
    if (this._inLab) {
      open.title = 'Open in a Lab tab through Jupyter\'s proxy';
      open.addEventListener('click', () => this._tabs.open(tunnel));
    } else {
      // Notebook 7: a browser tab through the same proxy (no Lab tabs there); the new tab
      // gets no handle on this one and no referrer.
      open.title = 'Open in a browser tab through Jupyter\'s proxy';
      open.addEventListener('click', () =>
        window.open(proxyUrl(tunnel), '_blank', 'noopener,noreferrer')
      );
    }
    row.appendChild(open);
    return row;
  }

  private _model: StateModel;
  private _tabs: TunnelTabs;
  private _kernels: KernelButtons;
  private _lifecycle: LifecycleButtons;
  private _inLab: boolean;
  private _summary: HTMLElement;
  private _error: HTMLElement;
  private _list: HTMLElement;
}
