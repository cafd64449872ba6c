"""The web front door: server-rendered pages (views, forms, templatetags, urls).

Thin views: a selector reads (and checks the role), a service writes, a template renders. One
module per page or per section of the environment page. Each region htmx swaps is a partial of
its page's template; the view renders "page.html#partial" when `request.htmx`, the whole page
otherwise, so that every action also works as a plain form post without JavaScript.
"""
