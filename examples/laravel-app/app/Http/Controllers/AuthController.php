<?php

namespace App\Http\Controllers;

use Illuminate\Http\Request;
use Illuminate\Support\Facades\Auth;
use Illuminate\Validation\ValidationException;

class AuthController extends Controller
{
    public function showLogin()
    {
        return view('auth.login');
    }

    public function login(Request $request)
    {
        $credentials = $request->validate([
            'email' => ['required', 'email'],
            'password' => ['required'],
        ]);
        if (! Auth::attempt($credentials)) {
            throw ValidationException::withMessages(['email' => 'These credentials do not match our records.']);
        }
        $request->session()->regenerate();
        return redirect()->intended('/dashboard');
    }

    public function logout(Request $request)
    {
        Auth::logout();
        $request->session()->invalidate();
        $request->session()->regenerateToken();
        return redirect('/');
    }

    public function dashboard(Request $request)
    {
        return view('dashboard', ['user' => $request->user(), 'note' => $request->session()->get('note')]);
    }

    /** Something kept in the session of this client only. */
    public function saveNote(Request $request)
    {
        $request->validate(['note' => ['required', 'string', 'max:100']]);
        $request->session()->put('note', $request->input('note'));
        return redirect('/dashboard')->with('status', 'Note saved.');
    }
}
