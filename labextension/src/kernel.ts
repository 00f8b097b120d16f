// The sidebar's "Kernel" button on a running instance: the same kernelspec as
// `%spheron kernel NAME` ("Spheron: NAME (GPU)"), written by the server extension
// (spheron_jupyter/server/kernel_route.py), then Jupyter's kernelspecs are refreshed so the
// launcher and Kernel > Change Kernel show it at once. Once installed the row says so, with a
// small "Remove" button: the route's DELETE, the counterpart of `%spheron kernel NAME --remove`.
import { Notification } from '@jupyterlab/apputils';

import { IInstance, installKernel, removeKernel } from './api';
import { StateModel } from './model';

/** Re-reads the server's kernelspecs (app.serviceManager.kernelspecs.refreshSpecs). */
export type RefreshSpecs = () => Promise<void>;

export class KernelButtons {
  constructor(model: StateModel, refreshSpecs: RefreshSpecs) {
    this._model = model;
    this._refreshSpecs = refreshSpecs;
  }

  /** The row's kernel control: the button, or "Kernel installed" and "Remove" once there is one. */
  render(instance: IInstance): HTMLElement {
    if (instance.kernel) {
      return this._installed(instance, instance.kernel.display_name, instance.kernel.name);
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
    await this._act(instance, button, 'Installing...', 'no kernel for', async () => {
      const spec = await installKernel(instance.id);
      return `Kernel '${spec.display_name}' installed: pick it in the launcher or Kernel > Change Kernel`;
    });
  }

  async remove(instance: IInstance, displayName: string, button: HTMLButtonElement): Promise<void> {
    await this._act(instance, button, 'Removing...', 'kernel not removed for', async () => {
      await removeKernel(instance.id);
      return `Kernel '${displayName}' removed`;
    });
  }

  private _installed(instance: IInstance, displayName: string, name: string): HTMLElement {
    const box = document.createElement('span');
    box.className = 'spheron-sidebar-kernel-box';
    const done = document.createElement('span');
    done.className = 'spheron-sidebar-kernel-installed';
    done.textContent = 'Kernel installed';
    done.title = `"${displayName}" (${name}): pick it in the launcher or Kernel > Change Kernel`;
    const remove = document.createElement('button');
    remove.className = 'spheron-sidebar-kernel-remove jp-Button jp-mod-styled';
    const busy = this._pending.has(instance.id);
    remove.textContent = busy ? 'Removing...' : 'Remove';
    remove.disabled = busy;
    remove.title = `Remove kernel "${displayName}" from the launcher and kernel picker (the instance keeps running)`;
    remove.setAttribute('aria-label', `Remove kernel ${displayName}`);
    remove.addEventListener('click', () => void this.remove(instance, displayName, remove));
    box.append(done, remove);
    return box;
  }

  /** One request per instance at a time; then the kernelspecs and the row are re-read. */
  private async _act(
    instance: IInstance,
    button: HTMLButtonElement,
    busyText: string,
    failure: string,
    request: () => Promise<string>
  ): Promise<void> {
    if (this._pending.has(instance.id)) {
      return;
    }
    this._pending.add(instance.id);
    button.disabled = true;
    button.textContent = busyText;
    try {
      const done = await request();
      try {
        await this._refreshSpecs();
      } catch {
        // the change is made; the launcher shows it after its own next refresh
      }
      Notification.success(done, { autoClose: 10000 });
    } catch (error) {
      const message = String((error as Error).message || error).split('\n')[0];
      Notification.error(`Spheron: ${failure} ${instance.name || instance.id}: ${message}`, {
        autoClose: false
      });
    } finally {
      this._pending.delete(instance.id);
      await this._model.refresh(); // the row now shows the button or "Kernel installed"
    }
  }

  private _model: StateModel;
  private _refreshSpecs: RefreshSpecs;
  private _pending = new Set<string>();
}
