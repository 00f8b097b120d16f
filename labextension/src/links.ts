// "open in a Lab tab" links in notebook outputs (spheron_jupyter/notebook/display.py's Link):
// hidden in the HTML itself, shown when this extension runs in JupyterLab, and opening the
// tunnel in a Lab tab through Jupyter's proxy (tabs.ts). Notebook 7 has no such tabs: there the
// links stay hidden and the plain link beside them is the way in.
import { ITunnel } from './api';
import { StateModel } from './model';
import { TunnelTabs } from './tabs';

export function installOutputLinks(model: StateModel, tabs: TunnelTabs, inLab: boolean): void {
  document.body.classList.add(inLab ? 'spheron-lab' : 'spheron-notebook7');
  if (!inLab) {
    return;
  }
  document.addEventListener('click', event => {
    const target = event.target as HTMLElement | null;
    const link = target?.closest('a.spheron-open-tab') as HTMLAnchorElement | null;
    if (!link) {
      return;
    }
    event.preventDefault();
    void openTunnel(model, tabs, link.dataset.spheronTunnel || '');
  });
}

async function openTunnel(model: StateModel, tabs: TunnelTabs, id: string): Promise<void> {
  let tunnel = findTunnel(model, id);
  if (!tunnel) {
    await model.refresh(); // a tunnel opened since the last poll
    tunnel = findTunnel(model, id);
  }
  if (tunnel) {
    tabs.open(tunnel);
  }
}

function findTunnel(model: StateModel, id: string): ITunnel | undefined {
  return model.state?.tunnels.find(t => t.id === id);
}
