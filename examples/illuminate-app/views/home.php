<h1>Welcome</h1>
<p>A small app built from Debian's Illuminate components: container, events, routing, HTTP
and views (plain PHP templates).</p>
<ul>
<li><a href="/hello/askr">/hello/askr</a>: a route parameter, a service and a view</li>
<li><a href="/probe/state">/probe/state</a>: what a request can see of the framework's state</li>
</ul>
