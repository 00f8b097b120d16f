// The server extension's REST contract (spheron_jupyter/server/), read with Jupyter's auth.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IInstance {
  id: string;
  name: string | null;
  backend: string;
  status: string | null;
  hourly_rate: number | null;
  cost_so_far: number | null;
  // Money as spheron_jupyter/ledger/figures.py writes it (sub-cent amounts keep four places: "$0.0004").
  hourly_rate_text: string;
  cost_so_far_text: string;
  created_at: number | string | null;
  lease_seconds: number | null;
  api_url: string;
  // Lifecycle (spheron_jupyter/ledger/lifecycle.py): what ends it, when, and SSH readiness.
  ssh_ready?: boolean;
  ends_at?: number | null;
  ends_because?: string | null;
  ends_text?: string;
  ending_soon?: boolean;
  // The kernelspec of ours that runs on it (spheron_jupyter/server/kernel_route.py), if any.
  kernel?: IKernelSpecRef | null;
}

export interface IKernelSpecRef {
  name: string;
  display_name: string;
}

export interface IEnded {
  id: string;
  name: string | null;
  status: string | null;
  at: number | null;
}

export interface IGpu {
  instance_id: string;
  gpus: number;
  utilization: number | null;
  memory_used_mib: number | null; // null: the GPU tool reported no memory figures
  memory_total_mib: number | null;
  temperature_c: number | null;
  sparkline: string;
  idle_warning: string | null;
  summary: string;
  error: string | null;
}

export interface ITunnel {
  id: string;
  instance_id: string;
  instance_name: string | null;
  kind: string;
  local_port: number;
  remote_port: number | null;
  proxy_path: string;
}

export interface IState {
  now: number | string;
  currency: string;
  burn_per_hour: number;
  burn_text: string;
  instances: IInstance[];
  tunnels: ITunnel[];
  ended?: IEnded[];
  budget_usd?: number | null;
  budget_text?: string | null;
}

/** GET spheron/api/state; any failure is an Error with a one-line message. */
export async function fetchState(): Promise<IState> {
  return (await getJson('state')) as IState;
}

/** GET spheron/api/gpu: per running instance, its GPU figures (sampled only when asked). */
export async function fetchGpu(): Promise<IGpu[]> {
  const body = (await getJson('gpu')) as { gpus: IGpu[] };
  return body.gpus || [];
}

/** POST spheron/api/kernel/<id>: write the instance's kernelspec; its name and display name. */
export async function installKernel(instanceId: string): Promise<IKernelSpecRef> {
  return (await getJson(kernelRoute(instanceId), { method: 'POST' })) as IKernelSpecRef;
}

/** DELETE spheron/api/kernel/<id>: remove the instance's kernelspecs; the names removed. */
export async function removeKernel(instanceId: string): Promise<string[]> {
  const body = (await getJson(kernelRoute(instanceId), { method: 'DELETE' })) as {
    removed?: string[];
  };
  return body.removed || [];
}

/** POST spheron/api/lifecycle/<id>: extend the lease by an hour, cancel the end, or terminate
 *  (now if allowed, else scheduled); the one-line message of what was done. */
export async function changeLifecycle(
  instanceId: string,
  action: 'extend' | 'cancel' | 'terminate'
): Promise<string> {
  const route = `lifecycle/${encodeURIComponent(instanceId)}`;
  const body = (await getJson(route, { method: 'POST', body: JSON.stringify({ action }) })) as {
    message: string;
  };
  return body.message;
}

function kernelRoute(instanceId: string): string {
  return `kernel/${encodeURIComponent(instanceId)}`;
}

async function getJson(route: string, init: RequestInit = {}): Promise<unknown> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'spheron', 'api', route);
  let response: Response;
  try {
    // makeRequest adds Jupyter's auth and the XSRF header a POST or DELETE needs.
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new Error('cannot reach the Jupyter server');
  }
  if (!response.ok) {
    let detail = '';
    try {
      const body = await response.json();
      detail = body.message || body.reason || body.error || '';
    } catch {
      // not JSON: the status line says enough
    }
    if (detail && route.startsWith('kernel/')) {
      throw new Error(detail); // the kernel route's own line says what to do (404s too)
    }
    if (response.status === 404) {
      throw new Error('the spheron-jupyter server extension is not enabled (404)');
    }
    throw new Error(`${route} request failed: ${response.status} ${detail || response.statusText}`.trim());
  }
  return await response.json();
}

/** The absolute URL of a tunnel's proxy, under Jupyter's base URL. */
export function proxyUrl(tunnel: ITunnel): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, tunnel.proxy_path);
}

/** Seconds since the epoch, from a number or an ISO string. */
export function toEpoch(value: number | string | null | undefined): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value === 'number') {
    return value;
  }
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed / 1000;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : `${m}m`;
}

/** What ends the instance and when, as the sidebar and the burn meter's tooltip say it
 *  (spheron_jupyter/ledger/lifecycle.py decides the end), or that nothing will. */
export function endsText(instance: IInstance, now: number): string {
  if (instance.ends_at) {
    const left = instance.ends_at - now;
    const what = instance.ends_because === 'lease' ? 'lease ends' : 'scheduled: terminates';
    const at = new Date(instance.ends_at * 1000).toLocaleTimeString([], {
      hour: '2-digit',
      minute: '2-digit'
    });
    return left > 0 ? `${what} in ${duration(left)} (${at})` : `${what} now`;
  }
  return instance.status === 'running' ? 'no lease: runs until terminated' : '';
}
