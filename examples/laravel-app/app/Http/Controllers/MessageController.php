<?php

namespace App\Http\Controllers;

use App\Events\MessagePosted;
use App\Jobs\RecordVisit;
use App\Models\Message;
use Illuminate\Http\Request;

class MessageController extends Controller
{
    public function create()
    {
        return view('messages.create', ['messages' => Message::latest('id')->take(5)->get()]);
    }

    /** Validation errors and the old input go back to the form through the session. */
    public function store(Request $request)
    {
        $data = $request->validate([
            'author' => ['required', 'string', 'max:40'],
            'body' => ['required', 'string', 'min:5', 'max:500'],
        ]);
        $message = Message::create($data);
        RecordVisit::dispatch('message');
        broadcast(new MessagePosted($message, $request->user()?->id));
        return redirect()->route('messages.create')->with('status', 'Message from ' . $data['author'] . ' saved.');
    }
}
