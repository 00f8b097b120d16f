// The sidebar's "Kernel" button on a running instance: the same kernelspec as
// `%spheron kernel NAME` ("Spheron: NAME (GPU)"), written by the server extension
// (spheron_jupyter/server/kernel_route.py), then Jupyter's kernelspecs are refreshed so the
// launcher and Kernel > Change Kernel show it at once. Once installed the row says so instead.
import { Notification } from '@jupyterlab/apputils';

import { IInstance, kernelRequest } from './api';
import { StateModel } from './model';

/** Re-reads the server's kernelspecs (app.serviceManager.kernelspecs.refreshSpecs). */
export type RefreshSpecs = () => Promise<void>;

export class KernelButtons {
  constructor(model: StateModel, refreshSpecs: RefreshSpecs) {
    this._model = model;
    this._refreshSpecs = refreshSpecs;
  }

  /** The row's kernel control: the button, or "Kernel installed" once there is one. */
  render(instance: IInstance): HTMLElement {
    if (instance.kernel) {
      const done = document.createElement('span');
      done.className = 'spheron-sidebar-kernel-installed';
      done.textContent = 'Kernel installed';
      done.title = `"${instance.kernel.display_name}" (${instance.kernel.name}): pick it in the launcher or Kernel > Change Kernel`;
      return done;
    }
    const button = document.createElement('button');
    button.className = 'spheron-sidebar-kernel jp-Button jp-mod-styled';
    const busy = this._pending.has(instance.id);
    button.textContent = busy ? 'Installing...' : 'Kernel';
    button.disabled = busy || !instance.ssh_ready;
    button.title = instance.ssh_ready
      ? 'Install a Jupyter kernel whose cells run on this instance'
      : 'A kernel needs SSH: wait until the instance says SSH is ready';
    button.addEventListener('click', () => void this.install(instance, button));
    return button;
  }

  async install(instance: IInstance, button: HTMLButtonElement): Promise<void> {
    if (this._pending.has(instance.id)) {
      return;
    }
    this._pending.add(instance.id);
    button.disabled = true;
    button.textContent = 'Installing...';
    try {
      const spec = await kernelRequest('POST', instance.id);
      try {
        await this._refreshSpecs();
      } catch {
        // the kernel is installed; the launcher shows it after its own next refresh
      }
      Notification.success(
        `Kernel '${spec.display_name}' installed: pick it in the launcher or Kernel > Change Kernel`,
        { autoClose: 10000 }
      );
    } catch (error) {
      const message = String((error as Error).message || error).split('\n')[0];
      Notification.error(`Spheron: no kernel for ${instance.name || instance.id}: ${message}`, {
        autoClose: false
      });
    } finally {
      this._pending.delete(instance.id);
      await this._model.refresh(); // the row now says "Kernel installed" (or the button is back)
    }
  }

  private _model: StateModel;
  private _refreshSpecs: RefreshSpecs;
  private _pending = new Set<string>();
}
