// The sidebar's lifecycle buttons on a live instance: "+1h" (`%spheron lease NAME +1h`),
// "Cancel end" when a lease or scheduled termination will end it (`%spheron lease NAME
// --cancel`) and "Terminate" (`%spheron terminate NAME --yes --when-allowed`: now if the
// minimum runtime allows, else scheduled), after a confirmation. The server extension does
// each (spheron_jupyter/server/lifecycle_route.py); its one-line answer is a notification.
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';

import { changeLifecycle, IInstance } from './api';
import { StateModel } from './model';

type Action = 'extend' | 'cancel' | 'terminate';

export class LifecycleButtons {
  constructor(model: StateModel) {
    this._model = model;
  }

  render(instance: IInstance): HTMLElement {
    const box = document.createElement('span');
    box.className = 'spheron-sidebar-lifecycle';
    const busy = this._pending.has(instance.id);
    const add = (action: Action, text: string, title: string) => {
      const button = document.createElement('button');
      button.className = `spheron-sidebar-${action} jp-Button jp-mod-styled`;
      button.textContent = text;
      button.title = title;
      button.disabled = busy;
      button.addEventListener('click', () => void this.act(instance, action));
      box.appendChild(button);
    };
    const name = instance.name || instance.id;
    add('extend', '+1h', `End it one hour later (%spheron lease ${name} +1h)`);
    if (instance.ends_at) {
      add('cancel', 'Cancel end', `It then runs, and bills, until terminated (%spheron lease ${name} --cancel)`);
    }
    add('terminate', 'Terminate', 'Terminate now, or as soon as the minimum runtime allows');
    return box;
  }

  async act(instance: IInstance, action: Action): Promise<void> {
    const name = instance.name || instance.id;
    if (this._pending.has(instance.id)) {
      return;
    }
    if (action === 'terminate') {
      const answer = await showDialog({
        title: `Terminate ${name}?`,
        body: 'Now if its minimum runtime is over, else as soon as it is (a helper process does it).',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Terminate' })]
      });
      if (!answer.button.accept) {
        return;
      }
    }
    this._pending.add(instance.id);
    try {
      Notification.success(`Spheron: ${await changeLifecycle(instance.id, action)}`, { autoClose: 10000 });
    } catch (error) {
      const message = String((error as Error).message || error).split('\n')[0];
      Notification.error(`Spheron: ${name}: ${message}`, { autoClose: false });
    } finally {
      this._pending.delete(instance.id);
      await this._model.refresh(); // the row shows the new end, or the instance leaves
    }
  }

  private _model: StateModel;
  private _pending = new Set<string>();
}
