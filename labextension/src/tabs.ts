// Tunnelled UIs (Jupyter, TensorBoard, any forwarded port) in Lab main-area tabs, through
// Jupyter's authenticated proxy: one tab per tunnel, re-activated when opened again.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { IFrame, MainAreaWidget } from '@jupyterlab/apputils';

import { ITunnel, proxyUrl } from './api';

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
    const content = new IFrame({
      sandbox: ['allow-scripts', 'allow-same-origin', 'allow-forms'],
      referrerPolicy: 'same-origin'
    });
    content.url = proxyUrl(tunnel);
    content.addClass('spheron-tunnel-frame');
    const widget = new MainAreaWidget({ content });
    widget.id = `spheron-tunnel-${tunnel.id}`;
    widget.addClass('spheron-tunnel-tab');
    widget.node.dataset.tunnelId = tunnel.id;
    const where = tunnel.instance_name || tunnel.instance_id;
    widget.title.label = `${tunnel.kind}: ${where}`;
    widget.title.caption = `${tunnel.kind} on ${where} (127.0.0.1:${tunnel.local_port}) through Jupyter's proxy`;
    widget.title.closable = true;
    widget.disposed.connect(() => this._open.delete(tunnel.id));
    this._open.set(tunnel.id, widget);
    this._app.shell.add(widget, 'main');
    this._app.shell.activateById(widget.id);
  }

  private _app: JupyterFrontEnd;
  private _open = new Map<string, MainAreaWidget<IFrame>>();
}
