import { LabIcon } from '@jupyterlab/ui-components';

// A small sphere with an orbit, in the theme's icon colour.
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 4a8 8 0 1 0 0 16a8 8 0 0 0 0-16zm0 2a6 6 0 1 1 0 12a6 6 0 0 1 0-12z"/>
    <path d="M2 13.5c2.5 1.6 6 2.5 10 2.5s7.5-.9 10-2.5v-2c-2.5 1.6-6 2.5-10 2.5S4.5 13.1 2 11.5z"/>
  </g>
</svg>`;

export const spheronIcon = new LabIcon({ name: 'spheron-jupyter:sphere', svgstr: svg });
