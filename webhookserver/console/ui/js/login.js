// login.js: the sign-in form (a Kubernetes token, exchanged for an HttpOnly session
// cookie), the end of a session and sign-out.
import { api } from './api.js';
import { $, clear } from './dom.js';
import { state } from './state.js';

// signedIn starts the app after a successful sign-in; wireLogin sets it.
let signedIn = async () => {};

export function wireLogin(onSignedIn) {
  signedIn = onSignedIn;
  $('#login-form').addEventListener('submit', submitLogin);
  $('#logout').addEventListener('click', logout);
}

export function showLogin(message) {
  if (state.page) state.page.close();
  state.user = null;
  $('#top').hidden = true;
  clear($('#main'));
  $('#login').hidden = false;
  const err = $('#login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('#login-token').value = '';
  $('#login-token').focus();
}

export function sessionEnded() {
  if (state.user) showLogin('Your session has ended. Sign in again.');
  else showLogin();
}

async function submitLogin(ev) {
  ev.preventDefault();
  const token = $('#login-token').value.trim();
  const err = $('#login-error');
  if (!token) return;
  const button = $('#login-submit');
  button.disabled = true;
  err.hidden = true;
  try {
    const res = await fetch('/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({ token }).toString(),
    });
    if (!res.ok) {
      let msg = `Sign-in failed (HTTP ${res.status}).`;
      try { const body = await res.json(); if (body && body.error) msg = `Sign-in failed: ${body.error}`; } catch { /* not JSON */ }
      err.textContent = msg;
      err.hidden = false;
      return;
    }
    $('#login-token').value = '';
    $('#login').hidden = true;
    await signedIn();
  } catch (e) {
    err.textContent = `Sign-in failed: ${e.message}`;
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  try { await api('/logout', { method: 'POST', quiet401: true }); } catch { /* the session is gone either way */ }
  state.namespaces = [];
  state.names = {};
  showLogin();
}
