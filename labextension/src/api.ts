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
  // Money as session/money.py writes it (sub-cent amounts keep four places: "$0.0004").
  hourly_rate_text: string;
  cost_so_far_text: string;
  created_at: number | string | null;
  lease_seconds: number | null;
  api_url: string;
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
}

/** GET spheron/api/state; any failure is an Error with a one-line message. */
export async function fetchState(): Promise<IState> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'spheron', 'api', 'state');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (error) {
    throw new Error('cannot reach the Jupyter server');
  }
  if (response.status === 404) {
    throw new Error('the spheron-jupyter server extension is not enabled (404)');
  }
  if (!response.ok) {
    let detail = '';
    try {
      const body = await response.json();
      detail = body.message || body.reason || body.error || '';
    } catch {
      // not JSON: the status line says enough
    }
    throw new Error(`state request failed: ${response.status} ${detail || response.statusText}`.trim());
  }
  return (await response.json()) as IState;
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
