import '@xterm/xterm/css/xterm.css';
import './app.css';
import { mount } from 'svelte';
import App from './App.svelte';
import { Session } from './lib/session.svelte';
import { createTransport } from './lib/transport';

const session = new Session(createTransport());
const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');
mount(App, { target, props: { session } });
