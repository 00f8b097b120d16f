import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';

import { BurnMeter } from './burn';
import { StateModel } from './model';
import { Notifier } from './notify';
import { KernelButtons } from './kernel';
import { installOutputLinks } from './links';
import { SpheronSidebar } from './sidebar';
import { TunnelTabs } from './tabs';

const OPEN_SIDEBAR = 'spheron-jupyter:open-sidebar';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'spheron-jupyter:plugin',
  description: 'Spheron instances, tunnels and burn rate in JupyterLab.',
  autoStart: true,
  optional: [ILayoutRestorer, IStatusBar],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    statusBar: IStatusBar | null
  ) => {
    const model = new StateModel();
    const tabs = new TunnelTabs(app);
    // Notebook 7 runs Lab extensions too, but has no room for a tunnel tab beside a notebook.
    const inLab = app.name !== 'Jupyter Notebook';
    // Lab and Notebook 7 both list kernelspecs through the service manager: a refresh puts a
    // kernel installed from the sidebar in the launcher and the kernel picker at once.
    const kernels = new KernelButtons(model, () => app.serviceManager.kernelspecs.refreshSpecs());
    const sidebar = new SpheronSidebar(model, tabs, kernels, inLab);
    installOutputLinks(model, tabs, inLab);
    app.shell.add(sidebar, 'left', { rank: 950 });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }
    app.commands.addCommand(OPEN_SIDEBAR, {
      label: 'Show the Spheron sidebar',
      execute: () => app.shell.activateById(sidebar.id)
    });
    if (statusBar) {
      const meter = new BurnMeter(model, () => void app.commands.execute(OPEN_SIDEBAR));
      statusBar.registerStatusItem('spheron-jupyter:burn', {
        item: meter,
        align: 'left',
        rank: 900
      });
    }
    new Notifier(model);
    void model.refresh();
  }
};

export default plugin;
