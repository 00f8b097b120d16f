// Tunnelled UIs (TensorBoard, any forwarded port) in Lab main-area tabs, through Jupyter's
// authenticated proxy: one tab per tunnel, re-activated when opened again.
//
// What a tunnel serves comes from a rented machine, so it runs sandboxed WITHOUT
// allow-same-origin: an opaque origin that cannot read this Lab's cookies or call its API
// (the server adds the same sandbox as a CSP header to every proxied response, so a browser
// tab opened on the proxy URL gets it too; see spheron_jupyter/server/tunnel_guard.py).
// A remote JupyterLab cannot work in such an origin (it reads its _xsrf cookie from
// document.cookie), so its tab says why and where it opens instead.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { IFrame, MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ITunnel, proxyUrl } from './api';

/** The iframe sandbox: scripts yes, this origin no (allow-same-origin would cancel it). */
export const TUNNEL_SANDBOX: IFrame.SandboxExceptions[] = [
  'allow-scripts',
  'allow-forms',
  'allow-popups',
  'allow-modals',
  'allow-downloads'
];

function jupyterNotice(tunnel: ITunnel): Widget {
  const where = tunnel.instance_name || tunnel.instance_id;
  const node = document.createElement('div');
  node.className = 'spheron-tunnel-notice';
  const lines = [
    `The JupyterLab on ${where} opens in its own browser tab, not here.`,
    'Inside this Lab it would run from a rented machine with your Jupyter\'s origin, so ' +
      'this proxy serves tunnels sandboxed in an opaque origin, where a JupyterLab cannot ' +
      'work (it needs its own cookies).',
    `In a notebook, %spheron jupyter ${where} shows the link to its tunnel ` +
      `(127.0.0.1:${tunnel.local_port}, reachable from a browser on this machine).`
  ];
  for (const text of lines) {
    const p = document.createElement('p');
    p.textContent = text;
    node.appendChild(p);
  }
  return new Widget({ node });
}

export class TunnelTabs {
  constructor(app: JupyterFrontEnd) {
    this._app = app;
  }

  open(tunnel: ITunnel): void {
    const existing = this._open.get(tunnel.id);
    if (existing && !existing.isDisposed) {
      this._app.shell.activateById(existing.id);
      return;
    }
    let content: Widget;
    if (tunnel.kind === 'jupyter') {
      content = jupyterNotice(tunnel);
    } else {
      const frame = new IFrame({ sandbox: TUNNEL_SANDBOX, referrerPolicy: 'no-referrer' });
      frame.url = proxyUrl(tunnel);
      frame.addClass('spheron-tunnel-frame');
      content = frame;
    }
    const widget = new MainAreaWidget({ content });
    widget.id = `spheron-tunnel-${tunnel.id}`;
    widget.addClass('spheron-tunnel-tab');
    widget.node.dataset.tunnelId = tunnel.id;
    const where = tunnel.instance_name || tunnel.instance_id;
    widget.title.label = `${tunnel.kind}: ${where}`;
    widget.title.caption = `${tunnel.kind} on ${where} (127.0.0.1:${tunnel.local_port}) through Jupyter's proxy, sandboxed`;
    widget.title.closable = true;
    widget.disposed.connect(() => this._open.delete(tunnel.id));
    this._open.set(tunnel.id, widget);
    this._app.shell.add(widget, 'main');
    this._app.shell.activateById(widget.id);
  }

  private _app: JupyterFrontEnd;
  private _open = new Map<string, MainAreaWidget<Widget>>();
}
